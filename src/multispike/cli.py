"""The ``multispike`` command line: it parses arguments and calls the library, nothing more."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import typing

from .checkpoint import CheckpointWriteError
from .cli_options import positive_int
from .config import HELP, TrainConfig, parse_setting
from .extras import MissingExtra
from .train import TrainingInterrupted

__all__ = ["main", "build_parser"]


def _option_type(name: str):
    """argparse's reader of setting ``name``: :func:`multispike.config.parse_setting`, whose
    ValueError argparse reports with the option's name."""
    def read(text):
        try:
            return parse_setting(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return read


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (each overrides the preset's value)")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "name":
            continue
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                           type=_option_type(f.name), metavar=f.name.upper(), help=HELP[f.name])


def build_parser() -> argparse.ArgumentParser:
    from .data.registry import IMAGE_DATASETS
    from .presets import DEFAULT_PRESET, PRESETS

    parser = argparse.ArgumentParser(
        prog="multispike",
        description="Exact event-driven training of single-spike (TTFS) and multi-spike SNNs.",
        epilog="List values are comma separated; write a list that starts with a minus sign "
               "as --option=-1,1.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a network and report its test accuracy",
                       description="Train a preset (default: Yin-Yang multi-spike on generated "
                                   "data) and write metrics and checkpoints into --out.")
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help=f"starting configuration (default {DEFAULT_PRESET}); see `multispike presets`")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset>-seed<seed>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from last.pt exactly as it was started (its "
                        "stored settings; only --epochs may extend it)")
    p.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for the kernels (default: all; torch's small ops use one)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON of TrainConfig fields (e.g. a sweep's best_config.json) applied over the "
                        "preset; the options below override it")
    _add_config_options(p)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on its test set")
    p.add_argument("checkpoint", help="a best.pt or last.pt file, or a run folder (its best.pt, "
                                      "else its last.pt)")
    p.add_argument("--data-dir", default=None, help="data folder (default: the one stored in the checkpoint)")
    p.add_argument("--split", default="test", choices=("test", "validation"),
                   help="the split to evaluate on (default test)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    sub.add_parser("presets", help="list the presets and their settings")

    p = sub.add_parser("download", help="download and verify an image data set")
    p.add_argument("dataset", help=", ".join(IMAGE_DATASETS))
    p.add_argument("--data-dir", default=None, help="root folder (default $MULTISPIKE_DATA or ~/.cache/multispike)")
    p.add_argument("--force", action="store_true",
                   help="download every file again, even those present with good checksums")

    from .study.cli import add_study_parser
    add_study_parser(sub)  # `multispike study ...`; its parser sets args.handler
    from .nir.cli import add_nir_parsers
    add_nir_parsers(sub)  # `multispike export` / `multispike import` (NIR); they set args.handler
    from .sweep.cli import add_sweep_parser
    add_sweep_parser(sub)  # `multispike sweep ...`; its parser sets args.handler
    return parser


def _configure_threads(threads: int | None) -> None:
    """The numba kernels use ``threads`` cores (default: all); torch's own operations
    (losses, Adam, allocations) run on one thread. They are small next to the kernels, and
    waking torch's idle thread pool for each of them costs more than it saves
    (benchmarks/bench_training.py measures it)."""
    import numba
    import torch

    if threads:
        if threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"--threads {threads} is more than the {numba.config.NUMBA_NUM_THREADS} "
                             f"threads numba can use here (NUMBA_NUM_THREADS or the number of cores)")
        numba.set_num_threads(threads)
    torch.set_num_threads(1)


def _cmd_train(args) -> int:
    from . import distributed
    from .presets import DEFAULT_PRESET, get_preset
    from .train import resume_config, train

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    if args.config is not None:  # a JSON of TrainConfig fields, e.g. a sweep's best_config.json
        from .config import read_config_file
        overrides = {**read_config_file(args.config), **overrides}
    config = None
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out, the folder of the run to continue")
        config = resume_config(args.out, args.preset, **overrides)
        if config is None:
            raise ValueError(f"--resume: {args.out} holds no run to continue (neither last.pt nor "
                             f"config.json); start a new run there without --resume")
    if config is None:
        label = overrides.pop("name", None)  # a config file's run name
        config = get_preset(args.preset or DEFAULT_PRESET, **overrides)
        config = config if label is None else dataclasses.replace(config, name=label)
    group = distributed.init_from_env()  # under torchrun: join the data-parallel group
    _configure_threads(args.threads or distributed.threads_per_process())
    print_ = print if group.writes_files else distributed.quiet
    out = args.out or f"runs/{config.name}-seed{config.seed}"
    layers = config.architecture or f"layers {[*config.hidden]} hidden"
    print_(f"training {config.name} ({config.dataset}, {layers}, "
           f"loss {config.loss}) for {config.epochs} epoch{'' if config.epochs == 1 else 's'} into {out}"
           + (f" on {group.size} processes" if group.active else ""))
    try:
        result = train(config, out, resume=args.resume, overwrite=args.overwrite,
                       progress=not args.no_progress)
    finally:
        distributed.close()
    if result["selected_epoch"] is None:
        chosen = "no validation split, so no checkpoint was selected"
    else:
        chosen = (f"selected on validation: epoch {result['selected_epoch']} (val "
                  f"{result['selected_val_accuracy']:.4f}, test "
                  f"{result['selected_test_accuracy']:.4f}, {out}/best.pt)")
    epochs = f"{result['epochs']} epoch" + ("" if result["epochs"] == 1 else "s")
    print_(f"final test accuracy {result['final_test_accuracy']:.4f} ({epochs}, "
           f"{out}/last.pt); {chosen}; metrics in {out}/metrics.jsonl")
    return 0


def _checkpoint_file(path):
    """A checkpoint file, or for a run folder its best.pt (else last.pt)."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} is a folder without best.pt or last.pt")
    return path


def _cmd_evaluate(args) -> int:
    from .kernels.compilation import report_compilation
    from .checkpoint import load_trained
    from .splits import load_data
    from .train import evaluate

    checkpoint = _checkpoint_file(args.checkpoint)
    net, config = load_trained(checkpoint, data_dir=args.data_dir)
    data = load_data(config)
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_val, data.y_val)
    if len(y) == 0:
        raise ValueError(f"{checkpoint} was trained without a validation split")
    with report_compilation(functools.partial(print, file=sys.stderr)):
        result = evaluate(net, x, y, config.prediction_rule, config.eval_batch_size)
    if args.json:
        print(json.dumps({"checkpoint": str(checkpoint), "split": args.split, **result}))
    else:
        spikes = ", ".join(f"{s:.1f}" for s in result["spikes_per_sample"])
        print(f"{config.name} ({checkpoint}): {args.split} accuracy {result['accuracy']:.4f} on "
              f"{len(y)} samples; spikes per sample per layer [{spikes}]")
    return 0


def _cmd_presets(_args) -> int:
    from .presets import PRESETS

    for name, make in PRESETS.items():
        c = make()
        layers = c.architecture or f"{c.hidden} hidden"
        loss = f"ttfs, silent_label_penalty={c.silent_label_penalty}" if c.loss == "ttfs" else \
            f"spike_count {c.target_true:g}/{c.target_false:g}"
        schedule = {"step": f"step (halved every {c.lr_halving_epochs} epochs, floor {c.lr_min:g})",
                    "exponential": f"exponential (x{c.lr_gamma:g} per epoch)"}.get(c.lr_schedule, c.lr_schedule)
        tau_mem = "2*tau_s" if c.tau_mem is None else f"{c.tau_mem:g}"
        print(f"{name}: {c.dataset}, {layers}, tau_s={c.tau_s}, tau_mem={tau_mem}, thresholds={c.thresholds}, "
              f"max_spikes={c.max_spikes}, t_max={c.t_max}, init={c.init}, loss={loss}, "
              f"lr={c.lr} {schedule}, batch={c.batch_size}, epochs={c.epochs}")
    return 0


def _cmd_download(args) -> int:
    from .data import download_dataset

    path = download_dataset(args.dataset, root=args.data_dir, force=args.force, log=print)
    print(f"{args.dataset} is ready in {path}")
    return 0


def main(argv: typing.Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None) or {
        "train": _cmd_train, "evaluate": _cmd_evaluate, "presets": _cmd_presets,
        "download": _cmd_download}[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return code
    except TrainingInterrupted as exc:
        print(f"\nmultispike {args.command}: interrupted; {exc.resume_hint()}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\nmultispike {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, MissingExtra, FileNotFoundError, FileExistsError, IsADirectoryError) as exc:
        print(f"multispike {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `multispike presets | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # disk full, permissions: the message names the path
        print(f"multispike {args.command}: error: {exc.strerror if isinstance(exc, CheckpointWriteError) else exc}",
              file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
