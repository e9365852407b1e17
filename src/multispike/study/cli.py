"""``multispike study <name>``: the command-line face of :mod:`multispike.study`."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

__all__ = ["add_study_parser", "run_study_command"]

_NAMES = ("accuracy", "budget", "latency", "noise", "attack", "convergence", "claims", "all")


def _floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text):
    return [int(v) for v in text.split(",") if v.strip()]


def add_study_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``study`` subcommand on an argparse subparsers object."""
    from ..cli_options import add_executor_options
    from .common import regime_presets

    p = subparsers.add_parser(
        "study", help="run the TTFS vs multi-spike trade-off experiments",
        description="Trade-off experiments (accuracy, budget, latency, noise, attack, convergence, claims, or all). "
                    "Each writes CSV/JSON, PNG plots and a section of OUT/report.md. Finished tasks "
                    "are skipped, so an interrupted study resumes when run again with the same options.")
    p.add_argument("name", choices=_NAMES, help="experiment to run ('all': every one, sharing trained networks)")
    p.add_argument("--quick", action="store_true",
                   help="small scale (Yin-Yang, few epochs, 2 seeds, coarse grids): minutes, for tests and CI")
    p.add_argument("--out", default=None, help="output folder (default study-results/quick or study-results/full)")
    add_executor_options(p, ("local", "serial", "ray"), default=None)
    p.add_argument("--serial", action="store_true", help="the same as --executor serial")
    p.add_argument("--dataset", default="yinyang", choices=list(regime_presets()),
                   help="data set of the trained networks (default yinyang; images need --data-dir or "
                        "a download); mnist-conv / fashion-mnist-conv: the convolutional presets")
    p.add_argument("--data-dir", default=None, help="data folder (for checkpoints: overrides the stored one)")
    p.add_argument("--seeds", type=int, default=None,
                   help="training seeds (default 2 quick, 5 full; budget: 1 / 2)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="[REGIME.]KEY=VALUE",
                   help="override a training setting for both regimes or one (ttfs.KEY / multispike.KEY), "
                        "e.g. --set epochs=20 --set multispike.lr=0.002; repeatable")
    p.add_argument("--checkpoint-ttfs", default=None, help="analyse this trained TTFS network (latency, noise, attack)")
    p.add_argument("--checkpoint-multispike", default=None,
                   help="analyse this trained multi-spike network (latency, noise, attack)")
    p.add_argument("--analyse", choices=["last", "best"], default=None,
                   help="latency, noise, attack: analyse networks trained here after their last epoch (default) "
                        "or at the epoch selected on validation accuracy (best.pt)")
    p.add_argument("--test-size", type=int, default=None,
                   help="latency, noise, attack: analyse only the first N test samples")
    g = p.add_argument_group("experiment settings (defaults depend on --quick)")
    g.add_argument("--targets", type=_floats, default=None,
                   help="accuracy: target accuracies for convergence speed, e.g. 0.8,0.9")
    g.add_argument("--slots", type=_ints, default=None,
                   help="budget: spike slots per neuron, e.g. 1,2,3,5,10,30")
    g.add_argument("--threshold-factors", type=_floats, default=None,
                   help="budget: hidden threshold as multiples of the preset's, e.g. 0.5,1,2")
    g.add_argument("--budget-epochs", type=int, default=None,
                   help="budget: epochs per run (default: the preset's)")
    g.add_argument("--budget-seeds", type=int, default=None, help="budget: seeds per configuration")
    g.add_argument("--noise-seeds", type=int, default=None,
                   help="noise: noise draws per level (default 2 quick, 10 full)")
    g.add_argument("--epsilons", type=_floats, default=None,
                   help="attack: shift bounds as fractions of the coding window, e.g. 0,0.01,0.05")
    g.add_argument("--deletions", type=_ints, default=None,
                   help="attack: numbers of deleted input spikes, e.g. 0,1,2,3,4")
    g.add_argument("--attack-steps", type=int, default=None, help="attack: PGD steps (default 5 quick, 20 full)")
    g.add_argument("--grid-points", type=int, default=None,
                   help="latency: time points of the accuracy-vs-time curve")
    g.add_argument("--init-grid", type=_floats, default=None,
                   help="convergence: values of the initial weight mean and std (default 0,0.2,...,2.4)")
    g.add_argument("--repeats", type=int, default=None,
                   help="convergence: repeats per cell (default 100; quick 5)")
    p.set_defaults(handler=run_study_command)
    return p


def parse_sets(items, reserved=("seed", "name")) -> dict:
    """['epochs=3', 'multispike.lr=0.01'] -> {'all': {'epochs': 3}, 'multispike': {'lr': 0.01}};
    each value read by its field type (:func:`multispike.config.parse_setting`). The
    ``reserved`` settings are refused (the study chooses seeds and names itself)."""
    from ..config import TrainConfig, parse_setting
    from .common import REGIMES

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        regime, dot, name = key.strip().rpartition(".")
        regime = regime if dot else "all"
        name = name.replace("-", "_")
        if regime not in ("all", *REGIMES):
            raise ValueError(f"--set {item!r}: the prefix must be one of {REGIMES}")
        if name not in names or name in reserved:
            raise ValueError(f"--set {item!r}: unknown or reserved setting {name!r}")
        try:
            out.setdefault(regime, {})[name] = parse_setting(name, value.strip())
        except ValueError as exc:
            raise ValueError(f"--set {item!r}: {exc}") from None
    return out


def run_study_command(args) -> int:
    from ..files import write_json
    from . import EXPERIMENTS, run_study
    from .common import QUICK_OVERRIDES, STUDY_OVERRIDES, StudyContext

    checkpoints = {k: v for k, v in (("ttfs", args.checkpoint_ttfs),
                                     ("multispike", args.checkpoint_multispike)) if v}
    for path in checkpoints.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint {path} does not exist")
    if args.quick and args.dataset != "yinyang" and not checkpoints:
        print("note: --quick with an image data set trains small networks on it", file=sys.stderr)
    params = {k: getattr(args, k) for k in ("targets", "slots", "threshold_factors", "budget_epochs",
                                            "budget_seeds", "noise_seeds", "grid_points", "init_grid",
                                            "repeats", "analyse", "test_size", "epsilons", "deletions",
                                            "attack_steps") if getattr(args, k) is not None}
    out = args.out or os.path.join("study-results", "quick" if args.quick else "full")
    executor = _make_executor(args)
    ctx = StudyContext(out=out, quick=args.quick, dataset=args.dataset, data_dir=args.data_dir,
                       executor=executor, seeds=args.seeds, overrides=parse_sets(args.sets),
                       checkpoints=checkpoints, params=params,
                       log=lambda msg: print(msg, flush=True))
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    header = [f"Scale: **{ctx.scale}**; data set: {ctx.dataset}; workers: {getattr(executor, 'workers', 1)}.",
              "",
              "Training settings start from the library presets (`multispike presets`) with these "
              f"study changes: {_overrides_text(STUDY_OVERRIDES, ctx.dataset)}"
              + (f"; quick scale: {QUICK_OVERRIDES}" if ctx.quick else "")
              + (f"; command line: {ctx.overrides}" if ctx.overrides else "") + "."]
    print(f"multispike study {args.name} ({ctx.scale} scale) into {ctx.out}", flush=True)
    t0 = time.perf_counter()
    try:
        timings = run_study(ctx, names, header)
    finally:
        if hasattr(executor, "close"):
            executor.close()
    write_json(ctx.out / "study.json", {"experiments": names, "scale": ctx.scale, "dataset": ctx.dataset,
                                        "overrides": ctx.overrides, "params": params,
                                        "checkpoints": checkpoints, "seconds": timings}, indent=1)
    print(f"done in {time.perf_counter() - t0:.1f}s; report: {ctx.out / 'report.md'}", flush=True)
    return 0


def _make_executor(args):
    from .runner import LocalExecutor, SerialExecutor

    kind = args.executor or ("serial" if args.serial else "local")
    if args.serial and kind != "serial":
        raise ValueError(f"--serial contradicts --executor {kind}")
    if args.address is not None and kind != "ray":
        raise ValueError("--address needs --executor ray")
    if kind == "ray":
        from .ray_executor import RayExecutor
        return RayExecutor(address=args.address, workers=args.workers)
    return SerialExecutor(threads=1) if kind == "serial" else LocalExecutor(args.workers)


def _overrides_text(table, dataset) -> str:
    items = [f"{regime}: {changes}" for (ds, regime), changes in table.items() if ds == dataset]
    return "; ".join(items) if items else "none"
