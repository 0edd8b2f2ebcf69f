"""training_history.png: the app's own charts of a run (the loss curve, the learning rate; for
classify, train vs validation loss and accuracy per epoch), rendered without a browser by
vl-convert, the Vega project's renderer, and stacked into one picture."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from playground.charts import lessons as lesson_charts
from playground.charts import run as run_charts
from playground.charts.annotations import best_step, marks, on_epochs, with_marks
from playground.export.files import Rows, history_frame

WIDTH = 720  # pixels of each chart's plot area (the PNG is drawn at twice this for sharpness)
Event = tuple[int, str, float]


def chart_specs(df: pd.DataFrame, events: Sequence[Event] = ()) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, Vega-Lite spec without data, data) of each chart the app would show for this history."""
    events = tuple((int(s), k, float(v)) for s, k, v in events)
    if "val_loss" in df and df["val_loss"].notna().any():
        ends = df.dropna(subset=["val_loss"])
        found = marks(events, best_step(df), float(df["step"].iloc[-1]))
        rules = tuple(int(s) for s in ends["step"]) if len(ends) <= 40 else ()
        return [("Loss: batches, epoch mean and validation",
                 _marked(lesson_charts.epoch_loss_spec(rules), found),
                 lesson_charts.epoch_loss_frame(df)),
                ("Accuracy per epoch",
                 _marked(lesson_charts.accuracy_spec(), on_epochs(found, df), "epoch"),
                 lesson_charts.accuracy_frame(df))]
    found = marks(events, best_step(df), float(df["step"].iloc[-1]))
    starts = run_charts.epoch_starts(df)
    spec = run_charts.loss_spec(True, bool(starts), points=len(df) < 40)
    if starts:
        spec = run_charts.with_epochs(json.loads(spec), starts)
    charts = [("Loss", _marked(spec, found), run_charts.loss_frame(df, 0.6))]
    if df["lr"].nunique() > 1:
        charts.append(("Learning rate", _marked(run_charts.lr_spec(run_charts.lr_log_scale(df)),
                                                found), df[["step", "lr"]]))
    return charts


def _marked(spec: str | dict, found: tuple, x: str = "step") -> str:
    """A spec (cached JSON, or one already filled) with the run's marks filled in, all its
    datasets as plain JSON (annotations.with_marks)."""
    spec = with_marks(json.loads(spec) if isinstance(spec, str) else spec, found, x)
    spec["datasets"] = {k: _plain(v.to_dict("records")) if isinstance(v, pd.DataFrame) else v
                        for k, v in spec["datasets"].items()}
    return json.dumps(spec)


def render(spec_json: str, frame: pd.DataFrame, title: str) -> Image.Image:
    """One chart as a picture: the spec with its data inlined, a fixed width and a title."""
    import vl_convert

    spec = json.loads(spec_json)
    spec.pop("usermeta", None)  # the page's canvas hint means nothing to the renderer
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    spec["data"] = {"values": _plain(records)}
    spec["width"], spec["title"] = WIDTH, title
    png = vl_convert.vegalite_to_png(spec, scale=2)
    return Image.open(io.BytesIO(png)).convert("RGB")


def _plain(records: list[dict]) -> list[dict]:
    """numpy scalars as Python numbers (JSON cannot hold numpy's)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records]


def history_png(rows: Rows, events: Sequence[Event] = ()) -> bytes:
    """Every chart of the run, one under the other, as PNG bytes."""
    df = history_frame(rows)
    if df.empty:
        raise ValueError("the run has no history yet: nothing to plot")
    pictures = [render(spec, frame, title) for title, spec, frame in chart_specs(df, events)]
    sheet = Image.new("RGB", (max(p.width for p in pictures), sum(p.height for p in pictures)),
                      "white")
    y = 0
    for picture in pictures:
        sheet.paste(picture, (0, y))
        y += picture.height
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
