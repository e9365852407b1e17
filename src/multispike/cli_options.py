"""Command-line options that several subcommands share, defined once so that each word
means one thing wherever it appears (``--executor``, ``--address``, ``--workers``)."""
from __future__ import annotations

import argparse
import sys

from .extras import install_command

__all__ = ["EXECUTORS", "add_executor_options", "positive_int", "deprecated_alias"]

#: Where a command's tasks (study tasks, sweep trials) run, by ``--executor`` name.
EXECUTORS = {
    "local": "a pool of --workers processes on this machine",
    "serial": "one after another in this process",
    "ray": "as Ray tasks: on a local Ray instance with --workers CPUs, or on the cluster at "
           f"--address (needs `{install_command('distributed')}`)",
}


def positive_int(text: str) -> int:
    """argparse's reader of a count >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_executor_options(parser: argparse.ArgumentParser, executors, default: str | None) -> None:
    """``--executor`` (one of ``executors``, names of :data:`EXECUTORS`), ``--address`` and
    ``--workers``, with the same meaning in every command that offers them."""
    choices = ", ".join(f"{name}: {EXECUTORS[name]}" for name in executors)
    parser.add_argument("--executor", choices=list(executors), default=default,
                        help=f"where tasks run (default {default or executors[0]}); {choices}")
    parser.add_argument("--address", default=None,
                        help="ray: address of a running Ray cluster ('auto' or HOST:PORT; default: "
                             "start a local instance with --workers CPUs)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="tasks that run at once, each on one CPU: the processes of the local "
                             "pool or the CPUs of a local Ray instance (default: all cores; a Ray "
                             "cluster at --address has its own CPUs)")


def deprecated_alias(new_name: str):
    """An argparse action for an option's old name: it stores the value as ``new_name`` does
    and says on stderr that the name is deprecated."""
    class DeprecatedAlias(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"note: {option_string} is deprecated; it is now called {new_name}", file=sys.stderr)
            setattr(namespace, self.dest, values)
    return DeprecatedAlias
