"""The target picker: gallery thumbnails, a safe upload, and a pixel editor to draw one."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from playground import sprites
from playground.ui.clicks import pressed
from playground.ui.gallery import sprite_gallery
from playground.ui.images import figure
from playground.ui.pixel_editor import pixel_editor, reset_pixel_editor


def current_target(sprite: str, pixels: str, size: int) -> np.ndarray:
    """The sprite the settings name, at the training size."""
    return sprites.load_sprite(pixels if sprite == "custom" else sprite, size)


def set_target(sprite: str, pixels: str = "") -> None:
    """Choose a new target (a gallery name, or 'custom' with its share code)."""
    st.session_state.sprite, st.session_state.pixels = sprite, pixels


def set_custom(arr: np.ndarray) -> None:
    """Make a drawn or uploaded array the target, stored as its compact share code."""
    set_target("custom", sprites.encode_sprite(arr))


def target_picker(size: int) -> None:
    """Tabs to pick from the gallery, upload a file, or draw."""
    gallery, upload, draw = st.tabs(["🖼️ Gallery", "⬆️ Upload", "✏️ Draw"])
    with gallery:
        gallery_grid()
    with upload:
        upload_box(size)
    with draw:
        draw_box(size)


def gallery_grid() -> None:
    """Clickable thumbnails of every built-in sprite."""
    picked = sprite_gallery(st.session_state.get("sprite", ""))
    if picked and picked != st.session_state.get("sprite"):
        set_target(picked)
        st.rerun()


def upload_box(size: int) -> None:
    """Upload an image; a refusal is a clear message and the previous target stays."""
    file = st.file_uploader(
        "Upload a picture (PNG, JPEG, GIF, WEBP or BMP, up to 5 MB)", key="upload",
        help="It is shrunk to the training size; transparency is kept. Nothing is stored on the "
             "server beyond this session.")
    if file is None:
        return
    data = file.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    done = st.session_state.get("upload_done")
    if done and done[0] == digest and done[1] == size:
        _show_upload_result(done[2], done[3])
        return
    try:
        arr, notes = sprites.read_image(data, size)
    except sprites.SpriteError as exc:
        st.session_state.upload_done = (digest, size, None, [str(exc)])
    else:
        try:
            set_custom(arr)
        except sprites.SpriteError as exc:  # too detailed to fit a share link
            st.session_state.upload_done = (digest, size, None, [str(exc)])
        else:
            st.session_state.upload_done = (digest, size, arr, notes)
            st.rerun()  # redraw the page with the new target everywhere
    _show_upload_result(*st.session_state.upload_done[2:])


def _show_upload_result(arr: np.ndarray | None, notes: list[str]) -> None:
    """The accepted sprite and any notes, or the refusal (the old target is still in use)."""
    if arr is None:
        st.error(f"{notes[0]} Your previous target is still in use.")
        return
    st.html(figure(arr, 128, "your upload, at training size"))
    for note in notes:
        st.info(note)


def draw_box(size: int) -> None:
    """A pixel grid at the training size; what you draw is exactly what the model learns."""
    base = st.session_state.get("draw_base")
    if base is None or base.shape[0] != size:
        base = current_target(st.session_state.sprite, st.session_state.pixels, size)
        st.session_state.draw_base = base
    left, right = st.columns(2)
    if pressed(left, "Start from the current sprite", key="draw_from_current"):
        st.session_state.draw_base = current_target(st.session_state.sprite,
                                                    st.session_state.pixels, size)
        reset_pixel_editor("editor")
        st.rerun()
    if pressed(right, "Blank canvas", key="draw_blank"):
        st.session_state.draw_base = np.zeros((size, size, 4), np.uint8)
        reset_pixel_editor("editor")
        st.rerun()
    st.caption("Each stroke becomes the target: what you draw is exactly what the model learns.")
    drawn = pixel_editor(st.session_state.draw_base, key="editor")
    if drawn is not None:
        try:
            code = sprites.encode_sprite(drawn)
        except sprites.SpriteError as exc:
            st.error(str(exc))
            return
        if st.session_state.pixels != code or st.session_state.sprite != "custom":
            set_target("custom", code)
            st.rerun()
