"""What does one browser session cost in memory? Its Runner idle, after each lesson's default run,
its history per row up to the cap, its archived runs; and 50 such sessions against the 3 GB goal.

Measured in-process, without a Streamlit server: each case is built while `tracemalloc` traces
Python's allocators, and what is still alive once it is built (after `gc.collect()`) is its
Python-object cost (numpy arrays that own their data are traced too). tracemalloc does not see
torch's tensor storage, which torch allocates outside Python's allocators, so the storages reachable
from the case's objects are added by their `nbytes`, each storage once: parameters, gradients,
optimizer state, the best-weights copy, the update-ratio scratch buffer, data and buffers, and the
published images (numpy views of torch storage). The history's cost per row is the slope between
two runs of a cheap config (learnable pixels, 8 px, SGD) and is extrapolated to the
`PLAYGROUND_MAX_HISTORY` cap. The RSS delta, from a second build of the same case without
tracemalloc (between `malloc_trim(0)` calls), is a noisy cross-check: freed memory is reused.

    python benchmarks/memory.py            # the tables, about 3 minutes on an idle box
    python benchmarks/memory.py --write    # ... and update docs/benchmarks.md
    python benchmarks/memory.py --quick    # smoke run in ~20 s (numbers meaningless, nothing written)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import math
import os
import pickle
import sys
import time
import tracemalloc
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import streamlit.logger  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import (  # noqa: E402
    bench_parser,
    command,
    load,
    machine,
    markdown_table,
    parse_checked,
    write_section,
)
from playground import sprites  # noqa: E402
from playground.config import RunConfig, task_defaults  # noqa: E402
from playground.engine import Trainer
from playground.history import thin  # noqa: E402
from playground.serve import FINISHED, LIMITS, MemoryBudget, Runner  # noqa: E402
from playground.warmup import configure_torch, warm_up  # noqa: E402

streamlit.logger.set_log_level("error")  # no bare-mode warnings from the ui imports, no run logs
from playground.ui import live, session  # noqa: E402, F401  (the app's modules count in the baseline)
from playground.ui.history import POINTS, ArchivedRun  # noqa: E402

UNBOUNDED = MemoryBudget(math.inf, math.inf)

MB = 1e6
SESSIONS = 50
GOAL_MB = 3000
# The server's RSS after its warm-up in the load runs (docs/reliability.md: 444-445 MB every time):
# a Streamlit server with torch, the app's modules and warm_up() done, no session open yet.
SERVER_BASELINE_MB = 445
HISTORY = RunConfig(model="pixels", size=8, optimizer="sgd", lr=0.05)  # the cheapest step there is
LARGEST = (  # the biggest trainers the config's ranges allow, one per lesson that can grow
    RunConfig(model="conv", size=64, hidden=512, latent=256, lr=1e-3, epochs=30),  # 0.01 diverges
    RunConfig(**{**task_defaults("classify"), "model": "mlp", "size": 64, "hidden": 512, "depth": 6,
                 "samples": 5000, "classes": 6, "epochs": 1}),
)
TENSOR_KINDS = ("params", "grads", "optimizer state", "best copy", "scratch", "images",
                "data, buffers")
NUMPY = "numpy-backed"  # storages torch.from_numpy borrowed: numpy's memory, traced by tracemalloc


@dataclass
class Case:
    """One measured case: what was built, and what it held once built."""

    name: str
    rows: int  # history rows the case holds
    python: int  # bytes traced by tracemalloc and still alive
    tensors: dict[str, int]  # torch storage bytes by kind
    rss: int | None  # RSS growth less tracemalloc's own growth (None where /proc is missing)

    @property
    def tensor_bytes(self) -> int:
        """The torch storage the case holds that tracemalloc did not already count."""
        return sum(v for k, v in self.tensors.items() if k != NUMPY)

    @property
    def total(self) -> int:
        """Python objects plus tensor storage."""
        return self.python + self.tensor_bytes

    def row(self) -> tuple:
        """Its line of the main table."""
        return (self.name, self.rows, self.python / MB, self.tensor_bytes / MB, self.total / MB,
                "n/a" if self.rss is None else self.rss / MB)


def rss() -> int | None:
    """This process's resident set in bytes (Linux), None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _libc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim, which hands freed heap back to the OS, where there is one."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


TRIM = _libc_trim()


def settle() -> None:
    """Collect garbage and return free heap to the OS, so an RSS delta shows new pages, not reuse."""
    gc.collect()
    if TRIM is not None:
        TRIM(0)


def measure(name: str, make: Callable[[], object],
            tensors: Callable[[object], dict[str, int]], rows: Callable[[object], int],
            keep: list[object] | None = None) -> Case:
    """Build one case twice: untraced for its RSS delta (tracemalloc's own records fragment the heap
    and inflate RSS), then under tracemalloc, measured while it is alive; `keep` holds on to it."""
    settle()
    rss0 = rss()
    plain = make()
    settle()
    rss1 = rss()
    grown = None if rss0 is None or rss1 is None else rss1 - rss0
    del plain
    settle()
    tracemalloc.start()
    obj = make()
    gc.collect()
    python = tracemalloc.get_traced_memory()[0]  # only what was allocated since start() and lives
    numpy_data = sum(t.size for t in tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]).traces)
    tracemalloc.stop()
    case = Case(name, rows(obj), python, tensors(obj), grown)
    if case.tensors[NUMPY] > numpy_data:  # then some of it was not numpy's after all
        print(f"  WARNING {name}: {case.tensors[NUMPY]:,} B of storage counted as numpy's, but numpy "
              f"holds only {numpy_data:,} B of traced data", file=sys.stderr)
    if keep is not None:
        keep.append(obj)
    print(f"  {name}: {case.total / MB:.2f} MB", file=sys.stderr, flush=True)
    return case


def reachable_tensors(*roots: object, exported: set[int] | None = None) -> list[torch.Tensor]:
    """Every tensor reachable from the roots through containers, instances and closures (not
    through modules, classes or functions' globals), with leaf tensors' gradients; `exported`
    collects the storages of tensors that a numpy array views (`tensor.numpy()`)."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            found.append(obj)
            if obj.is_leaf and obj.grad is not None:
                stack.append(obj.grad)
        elif isinstance(obj, np.ndarray):
            stack.append(obj.base)  # an array from `tensor.numpy()` keeps the tensor as its base
            if exported is not None and isinstance(obj.base, torch.Tensor):
                exported.add(obj.base.untyped_storage().data_ptr())
        elif isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                with contextlib.suppress(ValueError):  # an empty cell
                    stack.append(cell.cell_contents)
            stack.extend(obj.__defaults__ or ())
        elif not isinstance(obj, types.ModuleType | type | types.CodeType | types.FrameType):
            stack.extend(gc.get_referents(obj))
    return found


def storage_bytes(groups: Iterable[tuple[str, Iterable[torch.Tensor]]],
                  exported: set[int]) -> dict[str, int]:
    """Bytes of the storages behind each group's tensors, each storage counted once (first group).
    Storage borrowed from numpy (`torch.from_numpy`) goes under NUMPY: torch marks it not resizable,
    as it marks its own storage once a numpy array views it (`exported`, which stays a tensor)."""
    seen: set[int] = set()
    out: dict[str, int] = {NUMPY: 0}
    for kind, tensors in groups:
        out[kind] = out.get(kind, 0)
        for t in tensors:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr and ptr not in seen:
                seen.add(ptr)
                borrowed = not storage.resizable() and ptr not in exported
                out[NUMPY if borrowed else kind] += storage.nbytes()
    return out


def trainer_groups(trainer: Trainer | None) -> list[tuple[str, Iterable[torch.Tensor]]]:
    """The trainer's tensors by what they are for."""
    if trainer is None:
        return []
    state = [v for s in trainer.b.optimizer.state.values() for v in s.values()]
    return [("params", trainer.params),
            ("grads", [p.grad for p in trainer.params if p.grad is not None]),
            ("optimizer state", reachable_tensors(state)),
            ("best copy", trainer.best_params or []),
            ("scratch", trainer._spare or [])]


def runner_tensors(runner: object) -> dict[str, int]:
    """Tensor bytes a Runner holds: its trainer's by kind (a ready run's; a run that has started
    keeps its state as bytes between turns, counted with the Python heap), its images, the rest."""
    assert isinstance(runner, Runner)
    snap, exported = runner.snapshot(), set[int]()
    everything = reachable_tensors(runner, exported=exported)
    images = reachable_tensors([snap.image, snap.filmstrip, runner.frames(), snap.target, snap.view])
    return storage_bytes([*trainer_groups(runner._local), ("images", images),
                          ("data, buffers", everything)], exported)


def runner_rows(runner: object) -> int:
    """History rows the Runner keeps."""
    assert isinstance(runner, Runner)
    return runner.snapshot(2).n_rows


def finished(cfg: RunConfig | None) -> Callable[[], Runner]:
    """A Runner as a session holds it: idle (cfg None), or after one run of cfg to its end."""
    def make() -> Runner:
        runner = Runner(memory=UNBOUNDED)  # what a session holds without the server's budget
        if cfg is not None:
            runner.start(cfg.replace(pace=0))  # flat out: the app's default pace would sleep
            if not runner.join(timeout=600):
                raise RuntimeError(f"run did not finish: {cfg}")
            state = runner.snapshot(2).state
            if state not in FINISHED or state == "error":
                raise RuntimeError(f"run ended as {state}: {cfg}")
        return runner
    return make


def run_case(cfg: RunConfig, what: str, keep: list[object]) -> Case:
    """One finished run measured; a run that ended otherwise than completed says how in its name."""
    case = measure(label(cfg, what), finished(cfg), runner_tensors, runner_rows, keep)
    state = keep[-1].snapshot(2).state  # type: ignore[attr-defined]
    if state != "completed":
        case.name += f" ({state.replace('_', ' ')})"
    return case


def archived(source: Runner, n: int) -> Callable[[], list[ArchivedRun]]:
    """n finished runs as playground/ui/history.py keeps them: thinned to POINTS rows, the image;
    rows and image are fresh copies, as another run's would be once the runner moved on."""
    rows, snap = source.rows_since(0), source.snapshot(2)
    assert snap.config is not None and snap.image is not None

    def make() -> list[ArchivedRun]:
        runs = []
        for i in range(n):
            kept = pickle.loads(pickle.dumps(thin(rows, POINTS)))  # a fresh copy of the array
            image = sprites.from_tensor(sprites.to_tensor(snap.image))  # torch-backed, as published
            cfg = dataclasses.replace(snap.config, seed=i)
            runs.append(ArchivedRun(i, f"#{i + 1} {cfg.model}", cfg, kept, image, snap.state,
                                    float(kept["loss"][-1])))
        return runs
    return make


def archived_tensors(runs: object) -> dict[str, int]:
    """Tensor bytes of archived runs (their images)."""
    exported = set[int]()
    found = reachable_tensors(runs, exported=exported)
    return storage_bytes([("images", found)], exported)


def label(cfg: RunConfig, what: str = "") -> str:
    """A case's name from its config."""
    size = "" if cfg.task == "line" else f" {cfg.size} px"
    extra = {"classify": f", {cfg.samples:,} samples", "line": f", {cfg.samples} houses"}
    return (f"{what}{cfg.task}: {cfg.model}{size} {cfg.optimizer}, {cfg.epochs:,} "
            f"epoch{'s' * (cfg.epochs != 1)}{extra.get(cfg.task, '')}")


def warm(quick: bool) -> int | None:
    """What the server does before its first session (warm_up), plus one short run of every case's
    kind, so lazy imports and first-call caches are not billed to the first case; returns RSS."""
    configure_torch(1)
    warm_up()
    for cfg in (RunConfig(epochs=2), RunConfig(**{**task_defaults("classify"), "epochs": 1}),
                RunConfig(**{**task_defaults("line"), "epochs": 2}),
                dataclasses.replace(HISTORY, epochs=20),
                *(() if quick else (dataclasses.replace(c, size=8, hidden=8) for c in LARGEST))):
        finished(cfg)()
    settle()
    return rss()


def per_row(a: Case, b: Case, attr: str) -> float | None:
    """Bytes per history row: the slope between two runs of the same config."""
    va, vb = getattr(a, attr), getattr(b, attr)
    if va is None or vb is None or b.rows == a.rows:
        return None
    return (vb - va) / (b.rows - a.rows)


def packed_row(runner: Runner) -> float:
    """Bytes per row of the packed history (HistoryRows' float64 chunks, one copy per run)."""
    rows = runner._rows
    return rows.nbytes / len(rows)


def breakdown(cases: Sequence[Case]) -> str:
    """A table of each case's tensor bytes by kind (KB), for the cases that hold any."""
    kinds = (*TENSOR_KINDS, NUMPY)
    rows = [(c.name, *(c.tensors.get(k, 0) / 1e3 for k in kinds)) for c in cases
            if sum(c.tensors.values())]
    return markdown_table(("case", *(f"{k} KB" for k in kinds)), rows)


def scenarios(cases: dict[str, Case], row_bytes: float, largest: list[Case],
              base_mb: float) -> list[tuple]:
    """50 sessions, each holding one of the heavy shapes a session can take, on top of the baseline."""
    cap = LIMITS.max_history
    runs = cases["archive"].total
    fixed = max(cases[k].total for k in ("generate", "classify", "line"))
    shapes = [(f"default run's trainer + history at the cap ({cap:,} rows) + "
               f"{LIMITS.max_runs} archived runs", fixed + cap * row_bytes + runs)]
    shapes += [(f"{c.name} + {LIMITS.max_runs} archived runs (without the memory budget)",
                c.total + runs) for c in largest]
    budget = LIMITS.max_models_mb * MB / SESSIONS  # the budget caps all runs' tensors together
    shapes.append((f"history at the cap + {LIMITS.max_runs} archived runs + an equal share of "
                   f"`PLAYGROUND_MAX_MODELS_MB` ({LIMITS.max_models_mb:,.0f} MB for all runs' "
                   f"tensors): the bound with the budget", budget + cap * row_bytes + runs))
    out = []
    for what, per_session in shapes:
        total = base_mb + SESSIONS * per_session / MB
        out.append((what, per_session / MB, SESSIONS * per_session / MB, total,
                    "yes" if total <= GOAL_MB else "**no**"))
    return out


SCENARIO_HEADERS = ("each of 50 sessions holds", "per session MB", "50 sessions MB",
                    f"+ server baseline {SERVER_BASELINE_MB} MB", f"under {GOAL_MB / 1e3:g} GB")
HEADERS = ("case", "history rows", "Python objects MB", "tensors MB", "total MB", "RSS delta MB")


def reading(cases: dict[str, Case], row: dict[str, float | None], table: list[tuple],
            base_here: int | None) -> str:
    """The paragraph under the tables, its numbers taken from the measurements it explains."""
    cap = LIMITS.max_history
    py_row, rss_row, est_row = row["python"], row["rss"], row["sizeof"]
    defaults = sorted((cases[k] for k in ("generate", "classify", "line")), key=lambda c: c.total)
    low, high = defaults[0], defaults[-1]
    idle, arch = cases["idle"], cases["archive"]
    rss_text = (f"{rss_row:.0f} B/row by RSS" if rss_row is not None else "RSS n/a")
    history = table[0]
    lines = [
        f"**Reading it.** An idle session's Runner is {idle.total / 1e3:.1f} KB; after a default run it "
        f"holds {low.total / MB:.2f} MB ({low.name.split(':')[0].split()[-1]}) to {high.total / MB:.2f} "
        f"MB ({high.name.split(':')[0].split()[-1]}; {high.tensor_bytes / MB:.2f} MB of it tensors), "
        f"a finished trainer being kept until the next Start (for Restore best and the checkpoint "
        f"download). What grows without a model behind it is the "
        f"history: **{py_row:.0f} bytes per row** by tracemalloc (the slope between "
        f"{cases['hist_a'].rows:,} and {cases['hist_b'].rows:,} rows; {rss_text}), so "
        f"**{cap * py_row / MB:.0f} MB at the cap** of {cap:,} rows. {LIMITS.max_runs} archived runs "
        f"thinned to {POINTS} points cost {arch.total / MB:.2f} MB together and do not matter. "
        f"At 50 sessions the history-cap shape comes to **{history[3]:,.0f} MB** with the server's "
        f"{SERVER_BASELINE_MB} MB baseline, "
        f"{'under' if history[3] <= GOAL_MB else 'over'} the {GOAL_MB / 1e3:g} GB goal "
        f"({history[2]:,.0f} MB for the sessions). The rows are packed as float64 chunks of "
        f"4,096 rows (`playground/history.py`), one copy shared by the trainer and the runner: "
        f"{est_row:.0f} B/row of storage here (7 numbers x 8 B, plus the unused tail of the last "
        f"chunk). As Python tuples, before this was changed, the same slope measured 252 B/row, "
        f"held twice by reference: 50 MB per session at the cap and 3.2 GB for 50 sessions.",
    ]
    if rss_row is not None and rss_row > 1.5 * py_row:
        lines.append(
            f"RSS grew {rss_row:.0f} B per row, {rss_row / py_row:.1f}x the live bytes counted above "
            f"(allocator overhead, fragmentation or noise). Were that to hold at the cap, a session "
            f"would take {cap * rss_row / MB:.0f} MB of RSS for its history and 50 of them "
            f"{SERVER_BASELINE_MB + SESSIONS * (cap * rss_row + history[1] * MB - cap * py_row) / MB:,.0f}"
            f" MB with the baseline: worth checking with a real server at 50 sessions at the cap.")
    largest = [c for k, c in cases.items() if k.startswith("largest")]
    if largest:
        each = "; ".join(f"{c.name}: {c.total / MB:,.0f} MB ({c.tensor_bytes / MB:,.0f} MB tensors, "
                         f"{c.python / MB:,.0f} MB Python and numpy)" for c in largest)
        worst = max(table[1:], key=lambda r: r[1])
        lines.append(
            f"The history is not the largest thing a session can hold, though: the config's ranges "
            f"allow models and data sets far bigger than the defaults, and a finished trainer stays "
            f"with its session. Measured at the ranges' maxima: {each}. Adam holds about 5x the "
            f"weights on top of them (gradients, two moments, the best copy, the ratio scratch), and "
            f"the classify data set grows with samples x size\u00b2. 50 sessions that each finished "
            f"the largest run would need about {worst[3] / 1e3:,.1f} GB without a limit, which is why "
            f"the server has a memory budget (`MemoryBudget` in playground/serve/admission.py): a run over "
            f"`PLAYGROUND_MAX_RUN_MB` ({LIMITS.max_run_mb:,.0f} MB, counted as its weights six "
            f"times over plus its data) is refused with a message, and all runs together keep at "
            f"most `PLAYGROUND_MAX_MODELS_MB` ({LIMITS.max_models_mb:,.0f} MB): a new run first "
            f"frees ended runs' weights, oldest first. The last row of the table is that bound: "
            f"**{table[-1][3]:,.0f} MB** for 50 sessions, "
            f"{'under' if table[-1][3] <= GOAL_MB else 'over'} the goal. The cases above are "
            f"measured with the budget off, to show what one session would hold.")
    lines.append(
        f"Not counted: what the page keeps in `st.session_state` besides these objects (the load runs "
        f"measured an idle session at 0.4-0.5 MB of RSS), compare jobs, Streamlit's per-session "
        f"message caches, and torch's C++ tensor headers (tracemalloc sees only Python's allocators). "
        f"The baseline is the load runs' server after warm-up; this process, without the server, "
        f"sat at {'n/a' if base_here is None else f'{base_here / MB:.0f} MB'} after importing torch, "
        f"Streamlit and the app's modules and the same warm-up. RSS deltas are rough: the first "
        f"cases reuse memory the warm-up freed, and memory returned by one case lowers the next's.")
    return "\n\n".join(lines)


def section(cases: dict[str, Case], table: list[tuple], row: dict[str, float | None],
            base_here: int | None, before: str, quick: bool) -> str:
    """The docs section: what was measured, how, on what, by which command, the tables, the reading."""
    versions = ", ".join(f"{p} {version(p)}" for p in ("numpy", "streamlit"))
    doc = (__doc__ or "").split("\n\n")[1].replace("\n", " ")
    method = ("QUICK SMOKE RUN: short runs, no largest models; the numbers mean nothing." if quick else
              f"Method: one process, 1 torch thread, `warm_up()` and one short run of each kind first; "
              f"each case is built twice (its runs to their end through `Runner.start`, the worker "
              f"thread joined): once without tracemalloc for the RSS delta, then with it on, measured "
              f"and kept alive until the end. Limits as the "
              f"server's: `PLAYGROUND_MAX_HISTORY` = {LIMITS.max_history:,}, "
              f"`PLAYGROUND_MAX_RUNS` = {LIMITS.max_runs}.")
    ordered = list(cases.values())
    return (f"## Memory per session\n\n{doc}\n\n{method}\n\n"
            f"- Command: `{command()}`\n- Machine: {machine()}\n- Versions: {versions}\n"
            f"- Load average before / after: {before} / {load()}\n\n"
            f"{markdown_table(HEADERS, [c.row() for c in ordered])}\n\n"
            f"Tensor storage by kind (KB; each storage counted once, under the first kind that holds "
            f"it). The last column is storage `torch.from_numpy` borrowed from numpy (the classify "
            f"data set): tracemalloc traced it, so it is in the Python-objects column and not added "
            f"again as tensors:\n\n{breakdown(ordered)}\n\n"
            f"Worst cases at {SESSIONS} sessions (the baseline is the server's RSS after warm-up in "
            f"docs/reliability.md's load runs):\n\n{markdown_table(SCENARIO_HEADERS, table)}\n\n"
            f"{reading(cases, row, table, base_here)}\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = bench_parser(__doc__, "short runs, no largest models: a smoke test")
    return parse_checked(p, argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every case, print the section, and write it to the docs with --write."""
    args = parse(argv)
    quick = args.quick
    t0, before = time.monotonic(), load()
    base_here = warm(quick)
    keep: list[object] = []  # every case stays alive until the end, as 50 sessions' objects would
    tasks = {"generate": RunConfig(), "classify": RunConfig(**task_defaults("classify")),
             "line": RunConfig(**task_defaults("line"))}
    if quick:
        tasks = {k: dataclasses.replace(c, epochs=max(1, c.epochs // 20)) for k, c in tasks.items()}
    steps = (100, 1_000) if quick else (2_000, 20_000)
    cases = {"idle": measure("idle `Runner()`", finished(None), runner_tensors, runner_rows, keep)}
    for key, cfg in tasks.items():
        cases[key] = run_case(cfg, "default ", keep)
    for key, n in zip(("hist_a", "hist_b"), steps, strict=True):
        cfg = dataclasses.replace(HISTORY, epochs=n)
        cases[key] = run_case(cfg, "history ", keep)
    source = keep[-1]
    assert isinstance(source, Runner)
    cases["archive"] = measure(f"{LIMITS.max_runs} archived runs, {POINTS} points each",
                               archived(source, LIMITS.max_runs), archived_tensors,
                               lambda runs: sum(len(r.rows) for r in runs), keep)
    largest = [] if quick else [
        run_case(cfg, "largest ", keep) for cfg in LARGEST]
    for i, c in enumerate(largest):
        cases[f"largest_{i}"] = c
    row = {"python": per_row(cases["hist_a"], cases["hist_b"], "python"),
           "rss": per_row(cases["hist_a"], cases["hist_b"], "rss"),
           "sizeof": packed_row(source)}
    assert row["python"] is not None
    table = scenarios(cases, row["python"], largest, SERVER_BASELINE_MB)
    text = section(cases, table, row, base_here, before, quick)
    print(text)
    print(f"took {time.monotonic() - t0:.0f} s", file=sys.stderr)
    if args.write:
        print(f"wrote {write_section('memory', text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
