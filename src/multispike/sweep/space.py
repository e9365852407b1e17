"""The search space of a sweep: ``--param`` texts parsed into named ranges of TrainConfig
settings, and a trial's sampled values applied to a configuration.

A parameter is ``FIELD=[log:|int:]LOW:HIGH`` (a float, log-scaled float or integer range) or
``FIELD=choice:A,B,...``. ``FIELD`` is a TrainConfig setting with one value (``lr``,
``tau_s``, ``target_true``, ...) or one entry of a per-layer list, ``thresholds[0]``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..config import TrainConfig, setting_kinds

__all__ = ["Param", "parse_param", "apply_params"]

_NAME = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?$")


@dataclass(frozen=True)
class Param:
    """One searched setting: ``kind`` is "float", "log", "int" or "choice"."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    @property
    def field(self) -> str:
        return _NAME.match(self.name).group(1)

    @property
    def index(self) -> int | None:
        index = _NAME.match(self.name).group(2)
        return None if index is None else int(index)

    def distribution(self):
        """The matching Optuna distribution."""
        from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                          IntDistribution)
        if self.kind == "choice":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(self.low, self.high, log=self.kind == "log")


def parse_param(text: str) -> Param:
    """'lr=log:1e-4:1e-2' -> Param('lr', 'log', 1e-4, 1e-2); raises ValueError naming what
    was expected."""
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not spec.strip():
        raise ValueError(f"--param needs NAME=RANGE (e.g. lr=log:1e-4:1e-2), got {text!r}")
    match = _NAME.match(name)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    if match is None or match.group(1) not in fields or match.group(1) in ("name", "seed", "epochs"):
        raise ValueError(f"--param {text!r}: {name!r} is not a searchable TrainConfig setting")
    is_list = setting_kinds()[match.group(1)].is_list
    if is_list != (match.group(2) is not None):
        need = f"an index, e.g. {match.group(1)}[0]" if is_list else "no index"
        raise ValueError(f"--param {text!r}: {match.group(1)} needs {need}")
    kind, _, rest = spec.strip().partition(":")
    if kind == "choice":
        choices = tuple(_number_or_text(v.strip()) for v in rest.split(",") if v.strip())
        if len(choices) < 2:
            raise ValueError(f"--param {text!r}: choice needs at least two values")
        return Param(name, "choice", choices=choices)
    if kind not in ("log", "int"):
        kind, rest = "float", spec.strip()
    bounds = rest.split(":")
    try:
        low, high = (float(b) for b in bounds)
    except ValueError:
        raise ValueError(f"--param {text!r}: expected [log:|int:]LOW:HIGH with two numbers") from None
    if not low < high or (kind == "log" and low <= 0):
        raise ValueError(f"--param {text!r}: need LOW < HIGH (and LOW > 0 for log)")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ValueError(f"--param {text!r}: int bounds must be whole numbers")
    return Param(name, kind, low, high)


def _number_or_text(text: str):
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def apply_params(config: TrainConfig, values: dict) -> TrainConfig:
    """A copy of ``config`` with the sampled ``values`` ({param name: value}) set."""
    changes = {}
    for name, value in values.items():
        match = _NAME.match(name)
        field, index = match.group(1), match.group(2)
        if index is None:
            changes[field] = value
            continue
        current = changes.get(field, getattr(config, field))
        if current is None:  # resets: None means reset = threshold
            current = config.thresholds
        current = list(current)
        if int(index) >= len(current):
            raise ValueError(f"{name}: {field} has {len(current)} entries")
        current[int(index)] = value
        changes[field] = current
    return dataclasses.replace(config, **changes).validate()
