"""Pixel Playground: pick or draw a sprite, choose a model, loss, optimizer and learning rate,
press Start, and watch PyTorch learn it. Run with `streamlit run app.py`."""

import numpy as np
import streamlit as st

from playground.config import RunConfig
from playground.sprites import SpriteError
from playground.tasks import TASKS
from playground.ui import (
    compare,
    downloads,
    echo,
    experiments,
    history,
    lessons,
    live,
    lock,
    setup,
    share,
    stream,
    target,
)
from playground.ui.landscape import landscape_section
from playground.ui.session import PAGE_GATE, get_runner, server_warm_up


def first_load() -> None:
    """Settings come from the share link once per session; bad fields fall back to defaults."""
    if "cfg" in st.session_state:
        return
    cfg, problems = RunConfig.from_query(st.query_params.to_dict())
    try:
        target.current_target(cfg.sprite, cfg.pixels, cfg.size)
    except SpriteError as exc:
        problems.append(str(exc))
        cfg = cfg.replace(sprite=RunConfig().sprite, pixels="")
    st.session_state.update(cfg=cfg, link_problems=problems, sprite=cfg.sprite, pixels=cfg.pixels)
    lock.remember(cfg)  # a classroom link's hidden settings keep these values in every tab
    setup.load_into_widgets(cfg)


def settings() -> tuple[RunConfig, str | None]:
    """The sidebar's config; the address bar always holds it as the share link."""
    share.read_page_options()
    first_load()
    setup.keep_typed_lr()
    preview = setup.sidebar()
    setup.typed_lr_shown()
    cfg, error = setup.config_from_widgets(st.session_state.cfg)
    st.session_state.cfg = cfg
    st.query_params.from_dict(share.page_query(cfg))
    setup.schedule_preview(preview, cfg)
    share.share_panel(cfg)
    return cfg, error


def header(error: str | None) -> None:
    """Title, the classroom heading, and what went wrong with the link or the settings."""
    st.title("🎨 Pixel Playground")
    st.caption("Pick a sprite, set up the optimizer in the sidebar, press **▶ Start** and watch the "
               "classic loop (zero_grad → forward → loss → backward → step) learn it.")
    share.heading()
    if st.session_state.link_problems:
        st.warning("Some settings in this link could not be used, so defaults stand in for them: "
                   + "; ".join(st.session_state.link_problems))
    if error:
        st.error(error)


def train_tab(cfg: RunConfig, picked: np.ndarray | None) -> None:
    """Controls and the live view beside the target (or the lesson's data)."""
    runner = get_runner()
    watch, choose = st.columns([11, 8], gap="large")
    with choose:
        st.subheader("🎯 Target" if picked is not None else "📊 Data")
        if picked is not None:
            target.target_picker(cfg.size)
        else:
            lessons.data_panel(cfg)
    with watch:
        experiments.experiments_panel(runner)
        experiments.watch_note(cfg)
        live.sync_live_settings(runner, cfg)
        live.controls(runner, cfg, picked)
        live.live_view(runner, cfg, picked)
        downloads.downloads(runner)
        landscape_section(runner)
        history.history_panel()


def main() -> None:
    """One run of the page."""
    st.set_page_config(page_title="Pixel Playground", page_icon="🎨", layout="wide")
    server_warm_up()
    cfg, error = settings()
    header(error)
    sprites = TASKS[cfg.task].sprite
    picked = target.current_target(cfg.sprite, cfg.pixels, cfg.size) if sprites else None
    train, race = st.tabs(["🏃 Train", "🏁 Compare optimizers"], key="page_tab", on_change="rerun")
    with train:
        train_tab(cfg, picked)
    if race.open:  # drawn only while open: it was a third of every page run (docs/reliability.md)
        with race:
            compare.compare_tab(cfg, picked)
    echo.sent()  # the widgets this run rewrote reach the browser now (playground/ui/echo.py)


if __name__ == "__main__":  # a page run (streamlit run, AppTest)
    with PAGE_GATE.slot():  # only a few sessions run page code at once: playground/serve/admission.py
        main()
else:  # `streamlit run app.py` imports this file for an st.App: Streamlit plus the live stream's route
    app = st.App(__file__, routes=stream.routes())
