"""``multispike sweep``: the command-line face of :mod:`multispike.sweep`."""
from __future__ import annotations

import argparse
import time

__all__ = ["add_sweep_parser", "run_sweep_command"]


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    from ..cli_options import add_executor_options, deprecated_alias
    from ..presets import DEFAULT_PRESET, PRESETS
    from .search import EXECUTORS, PRUNERS

    p = subparsers.add_parser(
        "sweep", help="search hyperparameters (Optuna TPE with pruning) for the best validation accuracy",
        description="Search training settings with Optuna's TPE sampler, stopping hopeless trials "
                    "early, and maximise the validation accuracy (the data set's validation split, "
                    "--set val_size=N; never the test set). Writes OUT/trials.csv, trials.json, best_config.json "
                    "(for `multispike train --config`) and sweep.png. Running the same command "
                    "again resumes an interrupted sweep from OUT/optuna-journal.log.")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS), help="starting configuration")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=RANGE",
                   help="a searched setting: NAME=LOW:HIGH, NAME=log:LOW:HIGH, NAME=int:LOW:HIGH or "
                        "NAME=choice:A,B; NAME may index a per-layer list, thresholds[0]; repeatable")
    p.add_argument("--trials", type=int, required=True, help="trials in all (earlier runs into --out count)")
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the preset's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a fixed setting for every trial, e.g. --set hidden=30; repeatable")
    p.add_argument("--pruner", choices=PRUNERS, default="asha",
                   help="early stopping of trials: asynchronous successive halving (default), median, none")
    p.add_argument("--sampler-seed", type=int, default=0,
                   help="seed of the sampler (the training seed is --set seed=N)")
    p.add_argument("--seed", type=int, dest="sampler_seed", action=deprecated_alias("--sampler-seed"),
                   help=argparse.SUPPRESS)
    add_executor_options(p, EXECUTORS, default="serial")
    p.set_defaults(handler=run_sweep_command)
    return p


def run_sweep_command(args) -> int:
    from ..presets import get_preset
    from ..study.cli import parse_sets
    from .space import parse_param

    sets = parse_sets(args.sets, reserved=("name",))  # --set seed=N: the training seed
    if set(sets) - {"all"}:
        raise ValueError("sweep --set takes KEY=VALUE without a regime prefix")
    overrides = dict(sets.get("all", {}))
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    base = get_preset(args.preset, **overrides)
    params = [parse_param(text) for text in args.params]
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address needs --executor ray")
    from .report import write_sweep_outputs
    from .search import run_sweep
    t0 = time.perf_counter()
    book = run_sweep(base, params, args.trials, args.out, pruner=args.pruner, seed=args.sampler_seed,
                     executor=args.executor, address=args.address, workers=args.workers,
                     log=lambda m: print(m, flush=True))
    best = write_sweep_outputs(book.study, base, args.out, params)
    states = [t.state.name for t in book.study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL") if s in states)
    print(f"sweep done in {time.perf_counter() - t0:.1f}s: {counts}")
    if best is None:
        print("no trial completed; no best configuration written")
    else:
        print(f"best: trial {best['number']}, validation accuracy {best['val_accuracy']:.4f}; "
              f"train it with: multispike train --config {args.out}/best_config.json")
    return 0
