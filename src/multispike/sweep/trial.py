"""One trial of a sweep: train a configuration, score it on held-out training data after
every epoch, and let the search decide after each epoch whether to stop it early.

Validation data: the last ``val_fraction`` of the training samples the configuration would
use are held out; the trial trains on the rest (``train_size`` is set to that count) and
scores every epoch's network on the held-out part. The test set is never looked at.
"""
from __future__ import annotations

import dataclasses

__all__ = ["holdout_split", "run_trial"]


def holdout_split(n_available: int, val_fraction: float) -> tuple:
    """(training samples, validation samples) of ``n_available`` samples."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = int(round(n_available * val_fraction))
    if n_val < 1 or n_val >= n_available:
        raise ValueError(f"holding out {val_fraction} of {n_available} samples leaves no "
                         "training or no validation data")
    return n_available - n_val, n_val


def _silent(*_args, **_kwargs) -> None:
    pass


def run_trial(config: dict, run_dir: str, val_fraction: float, book, number: int) -> dict:
    """Train ``config`` in ``run_dir`` and return its per-epoch validation history.

    ``book.report(number, epoch, val_accuracy)`` is called after each epoch; when it returns
    True the trial stops there (pruned). Returns ``{"history": [...], "pruned": bool,
    "val_accuracy": best over the epochs run}``.
    """
    from ..config import config_from_dict
    from ..train import evaluate, load_data, train

    cfg = config_from_dict(config)
    full = load_data(dataclasses.replace(cfg, test_size=1))
    n_fit, n_val = holdout_split(len(full.x_train), val_fraction)
    x_val, y_val = full.x_train[n_fit:], full.y_train[n_fit:]
    cfg = dataclasses.replace(cfg, train_size=n_fit)
    history, pruned = [], False

    def epoch_end(record, net):
        nonlocal pruned
        net.eval()
        val = evaluate(net, x_val, y_val, cfg.prediction_rule, cfg.eval_batch_size)["accuracy"]
        history.append({"epoch": record["epoch"], "loss": record["loss"],
                        "train_accuracy": record["train_accuracy"], "val_accuracy": val,
                        "skipped_steps": record["skipped_steps"]})
        pruned = bool(book.report(number, record["epoch"], val))
        return pruned

    train(cfg, run_dir, overwrite=True, progress=False, log=_silent, epoch_end=epoch_end)
    best = max((h["val_accuracy"] for h in history), default=None)
    return {"history": history, "pruned": pruned, "val_accuracy": best,
            "train_size": n_fit, "val_size": n_val}
