"""Optional dependencies ("extras" of the package): import one, or say which ``pip install``
brings it.

The command line reports a :class:`MissingExtra` as a user error (its message, exit code 2);
any other ImportError stays a bug with its traceback.
"""
from __future__ import annotations

import importlib

__all__ = ["MissingExtra", "require", "install_command"]


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the command that installs it."""


def install_command(extra: str) -> str:
    """The command that installs the optional dependencies of ``extra``."""
    return f'pip install "multispike[{extra}]"'


def require(module: str, extra: str, needed_by: str):
    """The imported ``module``, or a :class:`MissingExtra` saying that ``needed_by`` needs it
    and naming the ``pip install`` command of the package's ``extra`` that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{needed_by} needs the {module} package: {install_command(extra)} "
                           f"(or: pip install {module})") from None
