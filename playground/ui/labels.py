"""What the page calls each setting: one place, so the sidebar, the classroom-link picker and the
lock messages all use the same words."""

from __future__ import annotations

from collections.abc import Iterable

LABELS = {
    "lr": "Learning rate", "clip_grad_norm": "Clip gradient norm (0 = off)", "betas": "Betas",
    "weight_decay": "Weight decay", "batch_size": "Batch size", "step_size": "Step size",
    "min_lr": "Minimum LR", "history_size": "History size", "max_iter": "Evaluations per step",
    "fourier": "Fourier features", "fourier_scale": "Fourier scale", "min_delta": "Min delta",
    "patience": "Patience (epochs, 0 = off)", "latent": "Latent size", "size": "Size (pixels)",
    "val_split": "Validation split", "test_split": "Test split", "monitor": "Watch",
}


def label(name: str) -> str:
    """The widget label a setting has on the page (the URL keeps the raw key)."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def in_sentence(name: str) -> str:
    """The label as it reads mid-sentence: 'learning rate', 'minimum LR', 'clip gradient norm'."""
    text = label(name).split(" (")[0]
    return text if text[:2].isupper() else text[0].lower() + text[1:]


def listing(names: Iterable[str]) -> str:
    """'the learning rate', 'the learning rate and optimizer', 'the a, b and c'."""
    words = [in_sentence(n) for n in names]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return "the " + joined
