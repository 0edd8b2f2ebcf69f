"""Watching a shared Optuna study from the page: the studies `tune --storage` processes fill on
other machines. A public server never connects to a URL a visitor types: only the storages its
operator lists in PLAYGROUND_TUNE_STORAGES (space-separated URLs) can be opened, read only."""

from __future__ import annotations

import os
from typing import Any

import optuna

from playground.compare.tune import study_view
from playground.compare.tune_space import Space, parse_search
from playground.config import ConfigError, RunConfig

ENV = "PLAYGROUND_TUNE_STORAGES"


def allowed_storages() -> list[str]:
    """The storage URLs this server's operator allows the page to read (none by default)."""
    return os.environ.get(ENV, "").split()


def shown(url: str) -> str:
    """A storage URL as the page shows it: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL sqlalchemy knows: show only its scheme
        return url.split("://", 1)[0] + "://…"


def _storage(url: str) -> str:
    """`url` if the operator allows it, else one sentence (a page never opens another)."""
    if url not in allowed_storages():
        raise ConfigError(f"storage {shown(url)} is not one this server may open; its operator "
                          f"lists those in {ENV}")
    return url


def study_names(url: str) -> list[str]:
    """The studies in an allowed storage, newest first."""
    try:
        return list(reversed(optuna.get_all_study_names(storage=_storage(url))))
    except ConfigError:
        raise
    except Exception as exc:  # an unreachable server, a missing driver: one sentence
        raise ConfigError(f"storage {shown(url)} cannot be read: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160]}") from None


def watch(url: str, name: str) -> tuple[dict[str, Any], RunConfig, Space, str]:
    """The study's view (trials, importances, best) and what it searches, from the signature
    `tune` writes into every study (a study without one was not made by this playground)."""
    try:
        study = optuna.load_study(study_name=name, storage=_storage(url))
    except KeyError:
        raise ConfigError(f"no study {name!r} in {shown(url)}") from None
    signature = study.user_attrs.get("signature")
    if not signature:
        raise ConfigError(f"study {name!r} was not made by `python -m playground tune`: it "
                          "does not say what it searches")
    base = RunConfig.from_dict(signature["base"])
    space = parse_search(list(signature["search"]), base)
    return study_view(study, base, space), base, space, signature["objective"]
