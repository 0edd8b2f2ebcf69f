"""The Compare tab's tools: races from identical weights, the LR range test, the stability map."""

from playground.compare.contenders import (
    MAX_CONTENDERS,
    MIN_CONTENDERS,
    PLAYBACK,
    SHARED,
    VARYING,
    contender_names,
    parse_vary,
    validate,
    variants,
)
from playground.compare.leaderboard import leaderboard, steps_to_threshold
from playground.compare.race import CHUNK, STACKED_MODELS, Race, race

__all__ = ["CHUNK", "MAX_CONTENDERS", "MIN_CONTENDERS", "PLAYBACK", "SHARED", "STACKED_MODELS",
           "VARYING", "Race", "contender_names", "leaderboard", "parse_vary", "race",
           "steps_to_threshold", "validate", "variants"]
