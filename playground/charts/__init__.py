"""Altair chart builders: pure functions of history tables and arrays (no torch, no Streamlit)."""
