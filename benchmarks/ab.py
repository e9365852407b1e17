"""A/B of two revisions on one benchmark, alternating them in one run.

Usage:
    python benchmarks/ab.py --a d0cf438 --b HEAD --rounds 3 -- \\
        benchmarks/bench_training.py --data-dir ../shared/datasets/mnist --rounds 1 --snntorch-batches 0

Each revision is checked out once into a temporary worktree (its own numba cache) and run
once untimed so that compilation is not measured. Then the benchmark runs ``--rounds``
times for each revision, A and B alternating (A B B A A B ...), each run in a fresh process
with that revision's ``src/`` first on PYTHONPATH, and its command taken from the revision
being measured (the benchmark script is the revision's own). Every line of the form
``NAME: N samples/s`` or ``... training : N samples/s`` is collected per revision; the
median and range over rounds of each figure, and B's median over A's, are printed. The
machine's speed drifts over minutes, which alternation spreads over both revisions.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_FIGURE = re.compile(r"^\s*(?P<label>[^:]*?)\s*:\s*(?P<value>[0-9.]+)\s+samples/s")


def _figures(output: str) -> dict:
    """{label: samples/s} of a benchmark's output; a label is prefixed with the last line
    that names a preset (``name: ...``) above it, so per-preset lines stay apart."""
    found, section = {}, ""
    for line in output.splitlines():
        if not line.startswith(" ") and ":" in line and "samples/s" not in line:
            section = line.split(":")[0].strip()
        match = _FIGURE.match(line)
        if match:
            label = match.group("label").strip()
            found[f"{section} {label}".strip() if line.startswith(" ") else label] = float(match.group("value"))
    return found


def _checkout(repo: Path, rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True)
    return where


def _run(tree: Path, command: list) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), os.environ.get("PYTHONPATH", "")])}
    script, *rest = command
    proc = subprocess.run([sys.executable, str(tree / script), *rest], env=env, capture_output=True,
                          text=True, cwd=os.getcwd())
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", required=True, help="revision A (e.g. a commit before a change)")
    parser.add_argument("--b", required=True, help="revision B")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per revision")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then the benchmark script (a path inside the repository) and its arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the benchmark command after --")
    repo = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                               text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="ab-") as tmp:
        trees = {name: _checkout(repo, rev, Path(tmp) / name) for name, rev in (("A", args.a), ("B", args.b))}
        try:
            for name, tree in trees.items():
                print(f"{name} = {args.__dict__[name.lower()]}: warm-up run (compilation)", flush=True)
                _run(tree, command)
            results = {"A": [], "B": []}
            order = ["A", "B"]
            for r in range(args.rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    results[name].append(_figures(_run(trees[name], command)))
                    print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in results[name][-1].items()),
                          flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                               capture_output=True)
    print(f"\nmedian samples/s over {args.rounds} rounds (range), A = {args.a}, B = {args.b}:")
    for label in results["A"][0]:
        a = [r[label] for r in results["A"] if label in r]
        b = [r[label] for r in results["B"] if label in r]
        if len(b) != len(a):
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"  {label}: A {ma:.0f} ({min(a):.0f}-{max(a):.0f})  B {mb:.0f} ({min(b):.0f}-{max(b):.0f})  "
              f"B/A {mb / ma:.2f}")


if __name__ == "__main__":
    main()
