"""The lessons: generate (a sprite), classify (shapes) and line (house prices), with their builders."""
