"""`python -m playground`: the command line (installed as `pixel-playground` too)."""

from playground.cli import run

run()
