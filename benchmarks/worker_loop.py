"""What does the worker's loop cost a training? The same config stepped by a bare `Trainer` loop
and by the worker's `Training` (controls read every step, rows batched and sent every 0.05 s, a
picture every 0.1 s, the state parked at the end), each in a fresh process, alternating rounds.

This separates the worker from the page: whatever app_vs_headless.py finds below 1.0 that this
does not is CPU the page (the server's reruns, the browser) takes on the same cores.

    python benchmarks/worker_loop.py            # the table, about three minutes on an idle box
    python benchmarks/worker_loop.py --write    # ... and update docs/benchmarks.md
    python benchmarks/worker_loop.py --quick    # one short round (numbers meaningless)
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.common import (  # noqa: E402
    bench_parser,
    command,
    load,
    machine,
    markdown_table,
    parse_checked,
    write_section,
)

CONFIGS = {  # RunConfig keyword arguments (a child process builds its own)
    "coord 16px adam (default model)": {"model": "coord"},
    "mlp 16px adam": {"model": "mlp"},
    "pixels 32px sgd": {"model": "pixels", "size": 32, "optimizer": "sgd", "lr": 0.01},
    "conv 32px adam": {"model": "conv", "size": 32},
}
GOAL = 0.95


def _drain(conn) -> None:
    """The server's end of the pipe: read and drop everything the worker sends."""
    while True:
        try:
            conn.recv()
        except (EOFError, OSError):
            return


def child(how: str, name: str, seconds: float) -> None:
    """One measurement in this fresh process: steps per second over `seconds` after a warm-up."""
    from playground import RunConfig
    from playground.engine import Trainer
    from playground.serve.limits import Limits
    from playground.serve.worker import Controls, Training
    from playground.warmup import configure_torch

    configure_torch(1)
    cfg = RunConfig(**CONFIGS[name], epochs=10**6, pace=0)
    if how == "bare":
        trainer = Trainer(cfg)
        for _ in range(100):
            trainer.step()
        n0, t0 = trainer.step_count, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            trainer.step()
        print((trainer.step_count - n0) / (time.perf_counter() - t0))
        return
    mine, theirs = mp.Pipe()
    reader = mp.get_context("fork").Process(target=_drain, args=(theirs,), daemon=True)  # no imports
    reader.start()
    theirs.close()
    training = Training(mine, 1, cfg, None, None, Controls(), Limits(max_seconds=3600))
    clock = {}

    def stop_after_window(*_: object) -> bool:  # the worker's own Trainer, timed from step 100
        t = training.trainer
        if t.step_count == 100:
            clock["n0"], clock["t0"] = t.step_count, time.perf_counter()
        elif "t0" in clock and time.perf_counter() - clock["t0"] >= seconds:
            clock["n1"], clock["t1"] = t.step_count, time.perf_counter()
            return True
        return False

    original = training._over_limit
    training._over_limit = lambda: stop_after_window() or original()
    training.run()
    print((clock["n1"] - clock["n0"]) / (clock["t1"] - clock["t0"]))


def measure(how: str, name: str, seconds: float) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", how, name, str(seconds)],
                         capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, "one short round")
    parser.add_argument("--child", nargs=3, help=argparse_hidden())
    args = parse_checked(parser, argv)
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return 0
    rounds, seconds = (1, 1.0) if args.quick else (5, 3.0)
    before = load()
    rows = []
    for name in CONFIGS:
        rates: dict[str, list[float]] = {"bare": [], "worker": []}
        for _ in range(rounds):
            for how in rates:  # alternate, so drifts in the machine's speed hit both alike
                rates[how].append(measure(how, name, seconds))
        bare, worker = statistics.median(rates["bare"]), statistics.median(rates["worker"])
        rows.append((name, f"{bare:,.0f}", f"{worker:,.0f}", f"{worker / bare:.2f}",
                     "yes" if worker / bare >= GOAL else "no"))
        print(f"{name}: bare {rates['bare']}, worker {rates['worker']}", file=sys.stderr)
    body = "\n".join([
        "## The worker's loop against a bare Trainer loop", "",
        f"Command: `{command()}` · {machine()} · load before: {before} · median of {rounds} "
        f"alternating rounds of {seconds:g} s, each in a fresh process", "",
        "Steps per second of the same config stepped by a bare `Trainer` loop and by the worker's "
        "`Training` (controls read every step, rows sent every 0.05 s, a picture every 0.1 s) "
        "with a process draining its pipe as the server does. Whatever "
        "`app_vs_headless.py` finds below this ratio is CPU the page takes on the same cores.", "",
        markdown_table(("config", "bare Trainer, steps/s", "worker, steps/s", "worker / bare",
                        f">= {GOAL}"), rows),
    ])
    print(body)
    if args.write:
        print(f"written to {write_section('worker_loop', body)}", file=sys.stderr)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
