"""Result files written atomically: JSON (of tensors, numpy values and dataclasses too) and
CSV tables, shared by the study and the sweep. Each file is written through
:func:`multispike.checkpoint.write_atomic`, so a kill leaves the old file or the new one.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

from .checkpoint import write_atomic

__all__ = ["to_jsonable", "write_json", "read_json", "write_csv"]


def to_jsonable(value: Any, strict: bool = True) -> Any:
    """Plain JSON types from tensors, numpy values, tuples and dataclasses. With ``strict``
    NaN and inf become None (standard JSON has no such numbers; used for results); without
    it they are kept (Python's json writes them as NaN / Infinity; used for task arguments,
    which must round-trip exactly)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, strict) for v in value]
    if hasattr(value, "tolist"):  # torch tensors and numpy arrays / scalars
        return to_jsonable(value.tolist(), strict)
    if isinstance(value, float):
        return value if math.isfinite(value) or not strict else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def write_json(path, value, indent: int | None = None) -> None:
    """Write ``value`` as JSON atomically (:func:`multispike.checkpoint.write_atomic`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(to_jsonable(value), indent=indent))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_csv(path, rows: list, columns: list | None = None) -> Path:
    """Write a list of dicts as CSV (columns: the given ones or the first row's keys)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or (list(rows[0].keys()) if rows else [])
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    write_atomic(path, text.getvalue())
    return path
