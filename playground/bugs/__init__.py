"""The bug lab: classic training-loop mistakes as switches (`RunConfig.bug`), each run exactly as
the mistaken loop would run, raced against the correct loop from identical weights (lab.py)."""

from playground.bugs.registry import BUGS, Bug, bugs_for, lab_pair, problem

__all__ = ["BUGS", "Bug", "bugs_for", "lab_pair", "problem"]
