"""The study's Markdown report.

Each experiment writes its own section to ``OUT/<experiment>/section.md``;
:func:`assemble_report` joins the sections present (in the study's order) under a header
into ``OUT/report.md``. Running one experiment again therefore replaces its section and
keeps the others.
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

from ..checkpoint import write_atomic

__all__ = ["write_section", "assemble_report", "md_table", "image"]


def md_table(header: list, rows: list) -> str:
    """A Markdown table from a header and rows of already formatted cells."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def image(path, out: Path, alt: str) -> str:
    """A Markdown image link relative to the report folder."""
    return f"![{alt}]({os.path.relpath(path, out)})"


def write_section(out: Path, name: str, text: str) -> Path:
    path = Path(out) / name / "section.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.rstrip() + "\n")
    return path


def assemble_report(out: Path, order, header_lines=()) -> Path:
    """Write ``OUT/report.md`` from the sections of the experiments in ``order``."""
    from .. import __version__

    out = Path(out)
    parts = ["# multispike trade-off study: TTFS vs multi-spike", "",
             f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by multispike "
             f"{__version__} (Python {platform.python_version()}, {platform.machine()}).", ""]
    parts += list(header_lines)
    present = [n for n in order if (out / n / "section.md").is_file()]
    if present:
        parts += ["", "Sections: " + ", ".join(f"[{n}](#{n})" for n in present), ""]
    for name in present:
        parts += [f'<a id="{name}"></a>', "", (out / name / "section.md").read_text().rstrip(), ""]
    path = out / "report.md"
    write_atomic(path, "\n".join(parts) + "\n")
    return path


def command_line() -> str:
    return " ".join(["multispike", *sys.argv[1:]]) if sys.argv and "multispike" in sys.argv[0] else ""
