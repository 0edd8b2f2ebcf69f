"""What does one live refresh's charts cost, against history length? The app's path vs the naive one.

Per refresh the live page (playground/ui/live.py) (a) thins the history to CHART_POINTS rows
(`runner.thin` over the packed `HistoryRows`, inside `Runner.snapshot`), (b) builds the frame
and the EMA (`history_frame`, `loss_frame`), (c) takes the cached loss and LR specs and adds the
fresh data (`loss_spec`, `lr_spec`, `with_data`) and (d) `st.vega_lite_chart` marshals each
chart: the spec as JSON, the data
as Arrow IPC bytes, in a `VegaLiteChart` proto (Streamlit's own functions are called for that, so
the bytes are what the page sends, less the message envelope). The naive path hands every row to
Altair charts built from scratch (`charts.loss_chart`, `charts.lr_chart`) and marshals them as
`st.altair_chart` does. The last two columns time Altair's own `chart.to_json()` (data inlined as
JSON) once per size, up to 50,000 rows. Synthetic history with a cosine LR, so both charts are drawn.

    python benchmarks/charts.py            # the table, under a minute on an idle box
    python benchmarks/charts.py --write    # ... and update docs/benchmarks.md
    python benchmarks/charts.py --quick    # smoke run in a few seconds (numbers meaningless)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import altair as alt  # noqa: E402
import numpy as np  # noqa: E402
from streamlit.elements import vega_charts as vc  # noqa: E402
from streamlit.proto.VegaLiteChart_pb2 import VegaLiteChart  # noqa: E402

from benchmarks.common import (  # noqa: E402
    CLOCKS,
    bench_parser,
    command,
    interleaved,
    load,
    machine,
    markdown_table,
    parse_checked,
    timed,
    write_section,
)
from playground.charts import run as charts  # noqa: E402
from playground.history import COLUMNS, HistoryRows, Table, thin  # noqa: E402
from playground.serve.limits import Limits  # noqa: E402
from playground.ui.live import CHART_POINTS  # noqa: E402

SIZES = (100, 1_000, 10_000, 50_000, 100_000, Limits().max_history)
QUICK_SIZES = (100, 1_000, 10_000)
TO_JSON_CAP = 50_000  # Altair's to_json() takes seconds and megabytes beyond this (the docstring says so)
SMOOTHING = 0.6  # the page's default
STAGES = ("thin", "frame+EMA", "spec+data", "marshal")


def history(n: int) -> Table:
    """n history rows shaped like the engine's: a noisy falling loss under a cosine LR."""
    rng = np.random.default_rng(0)
    step = np.arange(1, n + 1)
    loss = np.exp(-5 * step / n) * (1 + 0.1 * rng.standard_normal(n))
    lr = 0.005 * (1 + np.cos(np.pi * step / n)) + 1e-5
    ratio = np.where(step % 10 == 0, 1e-3, np.nan)
    return Table(COLUMNS, np.column_stack([step, step, loss, lr, rng.random(n), ratio, step * 1e-3]))


def marshal(spec: dict) -> bytes:
    """The chart as `st.vega_lite_chart(spec=..., width="stretch")` puts it on the wire."""
    proto = VegaLiteChart()
    spec = vc._prepare_vega_lite_spec(spec, True)
    vc._marshall_chart_data(proto, spec)
    proto.spec = vc._stabilize_vega_json_spec(json.dumps(spec))
    return proto.SerializeToString()


def app(rows: HistoryRows, clock: Callable[[], float], stages: list[list[float]],
        sent: list[int]) -> Callable[[], None]:
    """One live refresh as live.draw does it, each stage's seconds appended to `stages`."""
    def run() -> None:
        t = [clock()]
        shown = rows.thin(CHART_POINTS)
        t.append(clock())
        df = charts.history_frame(shown)
        frame = charts.loss_frame(df, SMOOTHING)
        t.append(clock())
        specs = [charts.with_data(charts.loss_spec(True, tuple(charts.epoch_starts(df)),
                                                   points=len(df) < 40), frame, "loss-1")]
        if df["lr"].nunique() > 1:
            specs.append(charts.with_data(charts.lr_spec(charts.lr_log_scale(df)),
                                          df[["step", "lr"]], "lr-1"))
        t.append(clock())
        sent[:] = [sum(len(marshal(s)) for s in specs)]
        t.append(clock())
        stages.append([b - a for a, b in zip(t, t[1:], strict=False)])
    return run


def naive(rows: Table, sent: list[int]) -> Callable[[], None]:
    """All rows into Altair charts built from scratch, marshalled as st.altair_chart does."""
    def run() -> None:
        df = charts.history_frame(rows)
        built = (charts.loss_chart(df, smoothing=SMOOTHING), charts.lr_chart(df))
        sent[:] = [sum(len(marshal(vc._convert_altair_to_vega_lite_spec(c))) for c in built)]
    return run


def to_json(rows: Table, clock: Callable[[], float]) -> tuple[float, int]:
    """Seconds and bytes of Altair's own to_json() for both charts (its 5,000-row limit lifted)."""
    df = charts.history_frame(rows)
    out: list[str] = []
    with alt.data_transformers.disable_max_rows():
        seconds = timed(lambda: out.extend(c.to_json() for c in (
            charts.loss_chart(df, smoothing=SMOOTHING), charts.lr_chart(df))), clock)
    return seconds, sum(len(s.encode()) for s in out)


def row(n: int, rounds: int, clock: Callable[[], float], json_cap: int) -> tuple:
    """Median ms per stage and per refresh, and bytes sent, for one history length."""
    rows = history(n)
    stages: list[list[float]] = []
    app_sent: list[int] = []
    naive_sent: list[int] = []
    packed = HistoryRows(COLUMNS)  # what the app thins: the runner's packed history
    for r in rows.data:
        packed.append(r)
    runs = {"app": app(packed, clock, stages, app_sent), "naive": naive(rows, naive_sent)}
    for fn in runs.values():  # warm-up: fills the spec caches, imports, first-call costs
        fn()
    stages.clear()
    seconds = interleaved(runs, rounds, clock)
    per_stage = [1e3 * statistics.median(s[i] for s in stages) for i in range(len(STAGES))]
    app_ms, naive_ms = (1e3 * statistics.median(seconds[k]) for k in ("app", "naive"))
    js_s, js_bytes = to_json(rows, clock) if n <= json_cap else (None, None)
    return (n, len(thin(rows, CHART_POINTS)), *per_stage, app_ms, app_sent[0] / 1e3, naive_ms,
            naive_sent[0] / 1e3, naive_ms / app_ms, naive_sent[0] / app_sent[0],
            "-" if js_s is None else 1e3 * js_s, "-" if js_bytes is None else js_bytes / 1e3)


HEADERS = ("rows", "points", *(f"{s} ms" for s in STAGES), "app ms/refresh", "app KB",
           "naive ms/refresh", "naive KB", "naive/app time", "naive/app bytes",
           "to_json() ms (1 call)", "to_json() KB")

def reading(rows: Sequence[tuple]) -> str:
    """The paragraph under the table, its numbers taken from the rows it explains."""
    small, cap = rows[0], rows[-1]
    full = [r for r in rows if r[0] >= CHART_POINTS] or rows  # every stage sees ~CHART_POINTS
    app_ms, frame_ms, wire_ms = ([r[i] for r in full] for i in (6, 3, 5))
    return f"""\
**Reading it.** The app's cost per refresh stays flat as the history grows: thinning gathers every
k-th row of the packed history into one ~{CHART_POINTS:,}-row table ({cap[2]:.2f} ms at
{cap[0]:,} rows, the cap `PLAYGROUND_MAX_HISTORY`), so
from {CHART_POINTS:,} rows on every later stage sees about {CHART_POINTS:,} points and the page
sends about {cap[7]:.0f} KB for the two charts; a refresh took {min(app_ms):.0f}-{max(app_ms):.0f} ms
at every size from there. The spread between those sizes within a stage (frame+EMA
{min(frame_ms):.1f}-{max(frame_ms):.1f} ms) is most likely noise, as those stages get the same
number of points (compare the load average above with the CPU count). Marshalling
({min(wire_ms):.1f}-{max(wire_ms):.1f} ms there) is Streamlit's own code: each frame to Arrow, the spec
JSON dumped, then re-parsed and dumped again by its stabiliser. Up to {CHART_POINTS:,} rows both
paths draw the same points and send the same bytes, so the ratio there is only what caching the
Altair spec saves: building and validating the two Altair charts cost {small[8]:.0f} ms at
{small[0]:,} rows. Beyond that the naive path grows with the rows, its bytes linearly:
{cap[9] / 1e3:.1f} MB and {cap[8]:.0f} ms per refresh at {cap[0]:,} rows, which at 4 refreshes a
second while a run trains (`REFRESH` = 0.25 s) is {4 * cap[8] / 1e3:.1f} CPU-seconds per second and
{4 * cap[9] / 1e3:.0f} MB/s for the browser to re-parse and redraw. Altair's own `to_json()` is
worse again (JSON records with indentation, 2.5-5x the Arrow bytes) and refuses more than 5,000
rows unless its limit is lifted, as here; it is timed once per size and only up to
{TO_JSON_CAP:,} rows (`-` above), since it takes seconds there. Timings move by 10-30% between
runs on a shared 2-core machine; the byte counts and the size of the ratios are the stable part."""


def section(rows: Sequence[tuple], rounds: int, clock: str, before: str, quick: bool) -> str:
    """The docs section: what was measured, how, on what, by which command, the table, the reading."""
    versions = ", ".join(f"{p} {version(p)}" for p in ("streamlit", "altair", "pandas", "pyarrow"))
    timer = ("process CPU time (`time.process_time`: not inflated while other processes hold the "
             "CPU)" if clock == "cpu" else "wall time (`time.perf_counter`)")
    method = ("QUICK SMOKE RUN: small sizes, two rounds; the numbers mean nothing." if quick else
              f"Method: after one warm-up call of each path (the spec caches are warm, as on a "
              f"running page), {rounds} interleaved rounds of app and naive refreshes per size, "
              f"medians kept; clock: {timer}.")
    doc = (__doc__ or "").split("\n\n")[1].replace("\n", " ")
    return (f"## Chart build and serialisation vs history length\n\n{doc}\n\n{method}\n\n"
            f"- Command: `{command()}`\n- Machine: {machine()}\n- Versions: {versions}\n"
            f"- Load average before / after: {before} / {load()}\n\n"
            f"{markdown_table(HEADERS, rows)}\n\n{reading(rows)}\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = bench_parser(__doc__, "small sizes, two rounds: a smoke test")
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds per size")
    p.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                   help="cpu (default: robust on a shared machine) or wall")
    return parse_checked(p, argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print the section, and write it to the docs with --write."""
    args = parse(argv)
    rounds = 2 if args.quick else args.rounds
    before, rows = load(), []
    for n in QUICK_SIZES if args.quick else SIZES:
        rows.append(row(n, rounds, CLOCKS[args.clock], 1_000 if args.quick else TO_JSON_CAP))
        print(f"  {n:>7,} rows: done", file=sys.stderr, flush=True)
    text = section(rows, rounds, args.clock, before, args.quick)
    print(text)
    if args.write:
        print(f"wrote {write_section('charts', text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
