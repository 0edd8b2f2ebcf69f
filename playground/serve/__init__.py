"""The server side: each session's runner, compare jobs, the pool of worker processes that train
for them, and the admission rules and limits that keep one shared server healthy. Nothing here
calls Streamlit; the page polls snapshots."""

from playground.serve.admission import LIMITS, MEMORY, Gate, MemoryBudget, RunRefused
from playground.serve.jobs import Job
from playground.serve.limits import Limits
from playground.serve.pool import Pool, shared_pool
from playground.serve.runner import Runner
from playground.serve.snapshot import FINISHED, Snapshot
from playground.serve.wire import Cancelled

__all__ = ["FINISHED", "LIMITS", "MEMORY", "Cancelled", "Gate", "Job", "Limits", "MemoryBudget", "Pool",
           "RunRefused", "Runner", "Snapshot", "shared_pool"]
