"""One trial of a sweep: train a configuration and let the search decide after every epoch,
from that epoch's validation accuracy, whether to stop it early.

The validation accuracy is the trainer's (``val_accuracy`` of each epoch's record: the data
set's validation split, see :func:`multispike.splits.load_data`); the test set plays no part
in the search.
"""
from __future__ import annotations

__all__ = ["run_trial", "require_validation"]


def _silent(*_args, **_kwargs) -> None:
    pass


def require_validation(config) -> None:
    """A ValueError unless ``config`` trains with a validation split."""
    from ..splits import resolve_config

    if not resolve_config(config).val_size:
        raise ValueError("a sweep maximises validation accuracy: val_size must be > 0")


def run_trial(config: dict, run_dir: str, book, number: int) -> dict:
    """Train ``config`` in ``run_dir`` and return its per-epoch validation history.

    ``book.report(number, epoch, val_accuracy)`` is called after each epoch; when it returns
    True the trial stops there (pruned). Returns ``{"history": [...], "pruned": bool,
    "val_accuracy": best over the epochs run}``.
    """
    from ..config import config_from_dict
    from ..train import train

    cfg = config_from_dict(config)
    require_validation(cfg)
    history, pruned = [], False

    def epoch_end(record, _net):
        nonlocal pruned
        history.append({k: record[k] for k in ("epoch", "loss", "train_accuracy", "val_accuracy",
                                               "skipped_steps")})
        pruned = bool(book.report(number, record["epoch"], record["val_accuracy"]))
        return pruned

    train(cfg, run_dir, overwrite=True, progress=False, log=_silent, epoch_end=epoch_end)
    best = max((h["val_accuracy"] for h in history), default=None)
    return {"history": history, "pruned": pruned, "val_accuracy": best}
