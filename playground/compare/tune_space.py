"""What a hyperparameter search may vary: `key=lo:hi[:log]` ranges and `key=a,b,c` sets, checked
against RunConfig's own ranges (a range outside them gets the same one-line refusal as `--set`),
and drawn for each Optuna trial. Plain data, so a search space travels to a worker process."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from playground.config import FIELDS, ConfigError, RunConfig, coerce, field_spec, format_value

BETAS = {"beta1": 0, "beta2": 1}  # Adam's two betas are searched one at a time
NOT_SEARCHED = {"pixels": "a drawn sprite", "houses": "typed data points",
                "betas": "a pair: search beta1 and beta2 instead",
                "bug": "a loop mistake: race it in the bug lab", "pace": "the app's playback speed"}


@dataclass(frozen=True)
class Param:
    """One searched setting: a numeric range (maybe log-scaled) or a set of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Optuna draws this setting's value for a trial."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def text(self) -> str:
        """The `--search` form, e.g. 'lr=0.0001:1:log' or 'optimizer=sgd,adam'."""
        if self.choices:
            return f"{self.name}=" + ",".join(format_value(c) for c in self.choices)
        return f"{self.name}={self.low:g}:{self.high:g}" + (":log" if self.log else "")


Space = dict[str, Param]


def field_of(name: str) -> str:
    """The RunConfig field a search key sets (beta1 and beta2 set betas)."""
    return "betas" if name in BETAS else name


def searchable(name: str) -> bool:
    """Whether a setting has a range or a set of choices to search."""
    if name in BETAS:
        return True
    if name not in FIELDS or name in NOT_SEARCHED:
        return False
    spec = field_spec(name)
    return bool(spec["choices"]) or spec["min"] is not None or str(FIELDS[name].type) == "bool"


def apply(base: RunConfig, values: dict[str, Any]) -> RunConfig:
    """The base config with a trial's values (validated: an invalid mix raises ConfigError)."""
    changes = {k: v for k, v in values.items() if k not in BETAS}
    if any(k in values for k in BETAS):
        betas = list(base.betas)
        for k, i in BETAS.items():
            if k in values:
                betas[i] = float(values[k])
        changes["betas"] = tuple(betas)
    return base.replace(**changes)


def parse_search(items: list[str], base: RunConfig) -> Space:
    """Parse `--search` strings into a space; each end of a range and each choice must be a value
    `--set` would accept on the base config, else the same sentence `--set` gives."""
    space: Space = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not text.strip():
            raise ConfigError(f"--search {item!r}: expected key=low:high[:log] or key=a,b,c")
        if name in space:
            raise ConfigError(f"--search {name}: given twice")
        space[name] = parse_param(name, text.strip(), base)
    if not space:
        raise ConfigError("--search: name at least one setting to search, e.g. lr=1e-4:1:log")
    return space


def parse_param(name: str, text: str, base: RunConfig) -> Param:
    """One setting's range or set, from its text after `key=`."""
    if not searchable(name):
        why = NOT_SEARCHED.get(name)
        if name in FIELDS:
            raise ConfigError(f"--search {name}: cannot be searched ({why or 'free text'})")
        coerce(name, "")  # the unknown-setting sentence of --set, naming the known ones
    key = field_of(name)
    spec = field_spec(key)
    if spec["choices"] or str(FIELDS[key].type) == "bool" or ("," in text and ":" not in text):
        values = [coerce(key, v) for v in text.split(",") if v.strip()]
        if len(set(values)) < 2:
            raise ConfigError(f"--search {name}: give at least two choices, e.g. "
                              f"{name}={','.join(map(format_value, (spec['choices'] or ('a', 'b'))[:2]))}")
        for v in values:
            apply(base, {name: v})
        return Param(name, choices=tuple(dict.fromkeys(values)))
    parts = text.split(":")
    log = len(parts) == 3 and parts[2].strip().lower() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise ConfigError(f"--search {name}={text}: expected low:high or low:high:log")
    low, high = (_number(name, p) for p in parts[:2])
    for v in (low, high):
        apply(base, {name: v})  # outside RunConfig's range: --set's own sentence
    if not low < high:
        raise ConfigError(f"--search {name}={text}: the low end must be below the high end")
    if log and low <= 0:
        raise ConfigError(f"--search {name}={text}: a log range needs a low end above 0")
    integer = str(FIELDS[key].type) == "int"
    return Param(name, float(low), float(high), log, integer)


def _number(name: str, text: str) -> Any:
    """One end of a range as the setting's type (beta1 and beta2 are plain numbers)."""
    if name not in BETAS:
        return coerce(name, text)
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--search {name}: {text!r} is not a number") from None


def default_range(name: str, base: RunConfig) -> Param:
    """A sensible starting range for a setting (the app's defaults): a decade either side of the
    base value on a log field, else RunConfig's whole range (capped for very wide int ranges);
    every choice for a choice field."""
    key = field_of(name)
    spec = field_spec(key)
    if spec["choices"]:
        return Param(name, choices=tuple(spec["choices"]))
    if str(FIELDS[key].type) == "bool":
        return Param(name, choices=(False, True))
    lo, hi = float(spec["min"]), float(spec["max"])
    value = float(base.betas[BETAS[name]] if name in BETAS else getattr(base, key))
    if spec["log"]:
        return Param(name, max(lo, value / 10), min(hi, value * 10), log=True)
    integer = str(FIELDS[key].type) == "int"
    if integer and hi > 8 * max(1.0, value):
        hi = max(lo + 1, 4 * max(1.0, value))  # e.g. hidden 4..256 around 64, not 4..512
    return Param(name, lo, hi, log=False, integer=integer)


def check_space(space: Space, base: RunConfig) -> Space:
    """Validate a space built by the app (same rules as parsing): raises ConfigError."""
    return parse_search([p.text() for p in space.values()], base)


def clean(value: Any) -> Any:
    """A sampled value as it reads in a table: 3 significant digits for floats."""
    return float(f"{value:.3g}") if isinstance(value, float) and math.isfinite(value) else value
