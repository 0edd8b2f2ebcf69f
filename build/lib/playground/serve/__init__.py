"""The server side: each session's runner, compare jobs, and the admission rules and limits that keep
one shared server healthy. Nothing here calls Streamlit; the page polls snapshots."""

from playground.serve.admission import LIMITS, MEMORY, SLOTS, Gate, MemoryBudget, RunRefused, Slots
from playground.serve.jobs import Cancelled, Job
from playground.serve.limits import Limits
from playground.serve.runner import FINISHED, Runner, Snapshot

__all__ = ["FINISHED", "LIMITS", "MEMORY", "SLOTS", "Cancelled", "Gate", "Job", "Limits", "MemoryBudget",
           "RunRefused", "Runner", "Slots", "Snapshot"]
