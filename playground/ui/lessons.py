"""The classify and line lessons on the page: their data panels and live views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from playground.charts import lessons as lesson_charts
from playground.charts import run as charts
from playground.charts.annotations import on_epochs
from playground.charts.common import ZOOM_HINT, with_data
from playground.config import RunConfig
from playground.history import Table
from playground.lessons import classify, linefit
from playground.serve import FINISHED, Snapshot
from playground.ui import diagnostics
from playground.ui import paths as paths_ui
from playground.ui.chart_data import with_marks
from playground.ui.clicks import pressed
from playground.ui.images import figure, row

SAMPLES_SHOWN = 18


def data_panel(cfg: RunConfig) -> None:
    """What the lesson learns from, shown where the sprite picker is for the sprite lesson."""
    PANELS[cfg.task].data(cfg)


@st.cache_data(show_spinner=False, max_entries=16)
def _samples(cfg: RunConfig) -> list[tuple[np.ndarray, str]]:
    """A few examples of the generated dataset with their labels (same seed, same data)."""
    x, y = classify.make_dataset(cfg.replace(samples=min(cfg.samples, SAMPLES_SHOWN)))
    images = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return [(images[i], classify.SHAPES[int(y[i])]) for i in range(len(y))]


def _apply_preset(name: str) -> None:
    """Load a preset's settings into the widgets (e.g. the one that overfits on purpose)."""
    from playground.ui.setup import set_widgets

    set_widgets(dict(classify.PRESETS[name]))


def classify_data(cfg: RunConfig) -> None:
    """Sample sprites with labels, and presets."""
    n_train, n_val, n_test = classify.split_sizes(cfg)
    st.caption(f"{cfg.samples} generated sprites in {cfg.classes} classes; {n_train} train, "
               f"{n_val} validation, {n_test} test (held out until the run ends). "
               "Same seed, same data.")
    rgba = [(np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2), label)
            for img, label in _samples(cfg)]
    st.html(row([figure(img, 56, label, checker=False) for img, label in rgba], gap=6))
    a, b = st.columns(2)
    a.button("Overfit on purpose", key="preset_overfit", on_click=_apply_preset,
             args=("overfit",), help="100 sprites of two shapes, half held out, a CNN without dropout, "
             "150 epochs: watch the validation loss turn upward while the training loss keeps falling.")
    b.button("Back to defaults", key="preset_default", on_click=_task_defaults, args=("classify",))


def _task_defaults(task: str) -> None:
    from playground.config import task_defaults
    from playground.ui.setup import load_into_widgets

    load_into_widgets(RunConfig(**task_defaults(task)), overwrite=True)


def line_data(cfg: RunConfig) -> None:
    """An editable table of houses; edits become the data (and travel in the share link)."""
    points = linefit.house_points(cfg)
    st.caption("Edit sizes and prices, add or delete rows; the model trains on this table.")
    table = st.data_editor(pd.DataFrame(points, columns=["size (m²)", "price (k)"]),
                           num_rows="dynamic", key=f"houses_{cfg.seed}_{cfg.samples}_{cfg.noise}",
                           height=260, width="stretch")
    edited = table.dropna().to_numpy(dtype=float)
    if len(edited) and not np.array_equal(edited, points):
        st.session_state["w_houses"] = linefit.format_points(edited[:500])
        st.rerun()
    if cfg.houses and pressed(st, "Back to generated points", key="houses_reset"):
        st.session_state["w_houses"] = ""
        st.rerun()


def draw(snap: Snapshot, log_y: bool = True, smoothing: float = 0.0) -> None:
    """The lesson's live charts for one snapshot, drawn with the page's log-y and smoothing."""
    PANELS[snap.config.task].draw(snap, _frame(snap.rows), log_y, smoothing)


def _frame(rows: Table) -> pd.DataFrame:
    """History rows with the lesson's extra columns, finite losses only."""
    return pd.DataFrame(rows.finite("loss").data, columns=list(rows.columns))


def _classify_view(snap: Snapshot, df: pd.DataFrame, log_y: bool, smoothing: float) -> None:
    """Batches vs epochs, train vs validation, patience, confusion matrix, mistakes."""
    cfg = snap.config
    ends = df.dropna(subset=["val_loss"])
    if not ends.empty:
        last = ends.iloc[-1]
        patience = (f" · patience {int(last['bad_epochs'])}/{cfg.patience} epochs without "
                    f"improvement" if cfg.patience else "")
        st.caption(f"epoch {int(last['epoch'])}: validation accuracy {last['val_accuracy']:.1%}, "
                   f"train accuracy {last['train_accuracy']:.1%} · {_best_text(ends, cfg)}"
                   f"{patience}")
    if df.empty:
        return
    marks = diagnostics.marks(snap)
    rules = tuple(int(s) for s in ends["step"]) if len(ends) <= 40 else ()
    spec = lesson_charts.epoch_loss_spec(rules, 280, log_y, smoothing > 0)
    frame = lesson_charts.epoch_loss_frame(df, smoothing, log_y)
    st.vega_lite_chart(spec=with_marks(with_data(spec, frame,
                                                 f"el-{snap.run_id}-{snap.n_rows}-{smoothing}-{log_y}"),
                                       marks), width="stretch")
    st.caption(ZOOM_HINT)
    diagnostics.panel(snap, log_y, smoothing)
    if not ends.empty:
        st.vega_lite_chart(spec=with_marks(with_data(lesson_charts.accuracy_spec(),
                                                     lesson_charts.accuracy_frame(df),
                                                     f"acc-{snap.run_id}-{len(ends)}"),
                                           on_epochs(marks, df), x="epoch"), width="stretch")
    _confusion(snap)
    _test_set(snap)



def _best_text(ends: pd.DataFrame, cfg: RunConfig) -> str:
    """Which epoch the best checkpoint holds, by what the run watches (monitor)."""
    if cfg.monitor == "accuracy":  # the first epoch that reached the highest accuracy
        best = ends.loc[ends["val_accuracy"].idxmax()]
        return f"best validation accuracy {best['val_accuracy']:.1%} at epoch {int(best['epoch'])} (kept)"
    best = ends.loc[ends["val_loss"].idxmin()]
    return f"best validation loss {best['val_loss']:.4g} at epoch {int(best['epoch'])} (kept)"

def _confusion(snap: Snapshot) -> None:
    """The confusion matrix beside the validation sprites the model gets wrong."""
    view = snap.view or {}
    if "confusion" not in view:
        return
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Confusion matrix** (validation)")
        classes = tuple(view["classes"])
        st.vega_lite_chart(spec=with_data(lesson_charts.confusion_spec(classes),
                                          lesson_charts.confusion_frame(view["confusion"],
                                                                        list(classes)),
                                          f"cm-{snap.run_id}-{snap.n_rows}"), width="stretch")
    with right:
        st.markdown("**Misclassified**")
        wrong = view["misclassified"]
        if not wrong:
            st.caption("None: every validation sprite is right.")
            return
        rgba = [(np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2),
                 f"{view['classes'][t]} → {view['classes'][p]}") for img, t, p in wrong]
        st.html(row([figure(img, 52, label, checker=False) for img, label in rgba], gap=6))


def _test_set(snap: Snapshot) -> None:
    """The held-out test split's report, shown once the run has ended (it chose nothing)."""
    report = (snap.view or {}).get("test")
    if report is None or snap.state not in FINISHED:
        return
    st.markdown(f"**Test set** · {report['test_size']} held-out sprites, never used to train or "
                "to pick the epoch: the honest estimate for new sprites")
    a, b, c, d = st.columns(4)
    a.metric("test accuracy", f"{report['accuracy']:.1%}")
    b.metric("macro F1", f"{report['macro']['f1']:.3f}")
    c.metric("parameters", f"{report['parameters']:,}", help=f"{report['size_mb']:.3f} MB "
             "(parameters and buffers)")
    d.metric("ms per sample", f"{report['ms_per_sample']:.3f}", help="Inference in eval mode "
             "without gradients, the fastest of a few timed passes over the test set.")
    left, right = st.columns([1, 1])
    with left:
        table = pd.DataFrame(report["per_class"]).set_index("class")
        table.loc["macro avg"] = [*report["macro"].values(), report["test_size"]]
        st.dataframe(table.style.format({"precision": "{:.3f}", "recall": "{:.3f}",
                                         "f1": "{:.3f}", "support": "{:.0f}"}), width="stretch")
        st.caption(f"{report['size_mb']:.3f} MB of weights · {report['ms_per_sample']:.3f} ms "
                   "per sample")
    with right:
        classes = tuple(report["classes"])
        st.vega_lite_chart(spec=with_data(lesson_charts.confusion_spec(classes),
                                          lesson_charts.confusion_frame(
                                              np.array(report["confusion"]), list(classes)),
                                          f"tcm-{snap.run_id}-{snap.n_rows}"), width="stretch")


def _line_view(snap: Snapshot, df: pd.DataFrame, log_y: bool, smoothing: float) -> None:
    """Points and the line moving, weight and bias, and a prediction."""
    view = snap.view or {}
    if "points" not in view:
        return
    st.vega_lite_chart(spec=with_data(lesson_charts.line_spec(), lesson_charts.line_frame(view),
                                      f"line-{snap.run_id}-{snap.n_rows}"), width="stretch")
    if not df.empty:
        spec = with_data(charts.loss_spec(log_y), charts.loss_frame(df, smoothing, log_y),
                         f"ll-{snap.run_id}-{snap.n_rows}-{smoothing}-{log_y}")
        st.vega_lite_chart(spec=with_marks(spec, diagnostics.marks(snap)), width="stretch")
        st.caption(ZOOM_HINT)
        diagnostics.panel(snap, log_y, smoothing)
    a, b, c = st.columns(3)
    a.metric("weight (model units)", f"{view['weight']:.4g}")
    b.metric("bias (model units)", f"{view['bias']:.4g}")
    c.metric("price per m²", f"{view['slope']:.3g} k")
    if view.get("closed_form"):
        slope, intercept = view["closed_form"]
        st.caption(f"Least squares answer: price = {slope:.3g} × size + {intercept:.4g}; the model "
                   f"now says {view['slope']:.3g} × size + {view['intercept']:.4g}.")
    if snap.config and not snap.config.normalize:
        st.caption("Sizes are ~100 and prices ~400 here, so the weight's gradient is about "
                   "10,000x the bias's: a learning rate big enough to move the bias blows up the "
                   "weight. Turn on **normalize** (feature scaling) and a LR of 0.1 just works.")
    size = st.number_input("Predict the price of a house of size (m²)", 10.0, 1000.0, 120.0,
                           key="predict_size")
    st.markdown(f"Model's price: **{view['slope'] * size + view['intercept']:,.1f} k**")


@dataclass(frozen=True)
class Panel:
    """A lesson on the page: its data panel (beside the controls) and its live view."""

    data: Callable[[RunConfig], None]
    draw: Callable[[Snapshot, pd.DataFrame, bool, float], None]  # (snap, rows, log-y, smoothing)


PANELS: dict[str, Panel] = {  # keyed like TASKS; the sprite lesson has its own target picker
    "classify": Panel(classify_data, _classify_view),
    "line": Panel(line_data, _line_view),
    "paths": Panel(paths_ui.paths_data, paths_ui.paths_view),
}
