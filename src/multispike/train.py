"""Training loop, evaluation and the run folder.

A run lives in one folder: ``config.json`` (the settings that ran), ``metrics.jsonl`` (one
JSON object per epoch: training loss and accuracy, validation and test accuracy, activity),
``last.pt`` (after every epoch) and ``best.pt`` (the epoch with the best *validation*
accuracy; the test set never selects anything). Files are written atomically and loaded
safely (:mod:`multispike.checkpoint`). ``resume=True`` continues ``last.pt`` with the same
shuffling as an uninterrupted run and refuses settings that contradict the stored run
(:func:`resume_config`). Ctrl-C (SIGINT) stops after the current batch with
:class:`TrainingInterrupted`; ``last.pt`` then holds the last finished epoch. The data
comes from :mod:`multispike.splits`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numba
import torch

from .checkpoint import (CHECKPOINT_FORMAT, build_network, check_writable, checkpoint_nbytes,
                         load_checkpoint, load_trained, remove_stale_temporaries, repair_best,
                         save_checkpoint, write_atomic)
from .config import TrainConfig, config_from_dict, parse_init
from .distributed import current_group, quiet
from .functional import all_finite
from .kernels.compilation import report_compilation
from .losses import compute_loss, predict
from .metrics import ActivityTotals, accumulate_activity
from .network import SpikingNetwork
from .splits import DEFAULT_IMAGE_VAL_SIZE, EncodedData, load_data, resolve_config

# EncodedData, load_data, resolve_config and DEFAULT_IMAGE_VAL_SIZE live in multispike.splits,
# build_network, load_trained and the checkpoint files in multispike.checkpoint; they are
# re-exported here for code that imports them from the trainer.
__all__ = ["EncodedData", "load_data", "resolve_config", "resume_config", "build_network",
           "evaluate", "train", "save_checkpoint", "load_checkpoint", "load_trained",
           "TrainingInterrupted", "TrainingDiverged", "DEFAULT_IMAGE_VAL_SIZE"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT after a finished batch; ``epoch`` epochs are finished
    (``last.pt`` holds the last of them, or does not exist when ``epoch`` is 0)."""

    def __init__(self, out_dir, epoch: int):
        self.out_dir, self.epoch = str(out_dir), epoch
        super().__init__(self.resume_hint())

    def resume_hint(self) -> str:
        """What the run folder holds now and what ``--resume`` will do with it."""
        command = f"multispike train --out {self.out_dir} --resume"
        if self.epoch == 0:
            return (f"no epoch had finished, so there is no checkpoint; `{command}` restarts "
                    f"this run from epoch 1 with the settings in "
                    f"{Path(self.out_dir) / 'config.json'}")
        return (f"{Path(self.out_dir) / 'last.pt'} holds epoch {self.epoch}; `{command}` "
                f"continues with epoch {self.epoch + 1}")


class TrainingDiverged(ValueError):
    """An optimizer step made a weight non-finite; the run stopped before writing anything,
    so ``last.pt`` still holds the last finished epoch."""

    def __init__(self, out_dir, epoch: int, batch: int, lr: float):
        self.out_dir, self.epoch, self.batch = str(out_dir), epoch, batch
        kept = (f"{Path(out_dir) / 'last.pt'} still holds epoch {epoch}" if epoch else
                "no epoch had finished, so there is no checkpoint")
        super().__init__(f"training diverged in epoch {epoch + 1}, batch {batch + 1}: the optimizer "
                         f"step made weights non-finite (inf or NaN); the likely cause is the "
                         f"learning rate (lr = {lr:g}): lower it. {kept}")


def build_optimizer(config: TrainConfig, net: SpikingNetwork) -> torch.optim.Adam:
    """Adam with the config's learning rate, on torch's fused CPU kernel: the same update
    rule as the per-tensor loop, in one pass over all parameters."""
    return torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)


@torch.no_grad()
def evaluate(net: SpikingNetwork, x, y, rule: str, batch_size: int = 500) -> dict:
    """Accuracy (``rule`` = "first_spike" or "spike_count") and per-layer activity."""
    totals = ActivityTotals()
    correct = 0
    for i in range(0, len(x), batch_size):
        outputs = net(x[i:i + batch_size], all_layers=True)
        correct += int((predict(outputs[-1], rule) == y[i:i + batch_size]).sum())
        accumulate_activity(totals, outputs, [layer.saturated for layer in net.layers])
    return {"accuracy": correct / max(len(x), 1), **totals.summary()}


def learning_rate(config: TrainConfig, epoch: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    if config.lr_schedule == "exponential":
        return config.lr * config.lr_gamma ** epoch
    if config.lr_schedule == "step":
        return max(config.lr * 0.5 ** (epoch // config.lr_halving_epochs), config.lr_min)
    return config.lr


# ----------------------------------------------------------------------------- resuming

#: Settings a resumed run may take from the caller although they differ from the stored
#: run: ``epochs`` (extend the run) and ``data_dir`` (the same data moved elsewhere).
_RESUMABLE_CHANGES = ("epochs", "data_dir")


def _same_setting(name: str, given, stored) -> bool:
    if name == "init":
        return [parse_init(s) for s in given] == [parse_init(s) for s in stored]
    if isinstance(given, (int, float)) and isinstance(stored, (int, float)) \
            and not isinstance(given, bool):
        return float(given) == float(stored)
    return given == stored


def _conflicts(stored: TrainConfig, settings: dict) -> list[str]:
    stored_values = dataclasses.asdict(stored)
    return [f"{name} {value!r} (the run has {stored_values[name]!r})"
            for name, value in settings.items()
            if name not in ("epochs",) and not _same_setting(name, value, stored_values[name])
            and not (name == "data_dir" and stored.data_dir is not None and value is not None)]


def resume_config(out_dir, preset: str | None = None, **settings) -> TrainConfig | None:
    """The configuration that continues the run in ``out_dir``, or None if it holds none.

    A run is stored in ``last.pt`` (after its first finished epoch) or, when it was stopped
    before an epoch finished, only in ``config.json``: resuming then restarts that run
    from epoch 1 with its stored settings.

    ``settings`` are the options the caller set explicitly (TrainConfig fields) and
    ``preset`` the preset it named. Resuming continues exactly the stored experiment: a
    preset or setting that differs from the stored run raises a ValueError naming each
    conflict. Two changes are allowed: ``epochs`` may extend the run (not shorten it below
    the finished epochs), and ``data_dir`` may point to the same data set moved elsewhere
    (the run stored one; a generated Yin-Yang run has none to move).
    """
    stored, finished = _stored_run(Path(out_dir))
    if stored is None:
        return None
    conflicts = _conflicts(stored, settings)
    if preset is not None and preset != stored.name:
        conflicts.insert(0, f"preset {preset!r} (the run is {stored.name!r})")
    if conflicts:
        raise ValueError(f"--resume continues the run in {out_dir} exactly as it was started; "
                         f"these options contradict it: {'; '.join(conflicts)}. Leave them out, "
                         f"or start a new run in another --out folder")
    epochs = settings.get("epochs", stored.epochs)
    if epochs < finished:
        raise ValueError(f"epochs = {epochs} is fewer than the {finished} epochs the run in "
                         f"{out_dir} has finished")
    changes = {k: v for k, v in settings.items() if k in _RESUMABLE_CHANGES and v is not None}
    return dataclasses.replace(stored, **changes)


def _stored_run(out: Path) -> tuple[TrainConfig | None, int]:
    """The run stored in ``out`` and its number of finished epochs: from ``last.pt``, else
    from ``config.json`` (0 finished), else (None, 0)."""
    last_path, config_path = out / "last.pt", out / "config.json"
    if last_path.exists():
        state = load_checkpoint(last_path)
        return config_from_dict(state["config"]), state["epoch"]
    if config_path.exists():
        return read_stored_config(config_path), 0
    return None, 0


def read_stored_config(path) -> TrainConfig:
    """The settings a run folder's ``config.json`` holds, validated."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as a run's settings: {exc}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object of TrainConfig fields")
    try:
        return config_from_dict(values).validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} holds invalid settings: {exc}") from None


def _schedule_note(old_epochs: int, config: TrainConfig) -> str:
    """What extending a run from ``old_epochs`` to ``config.epochs`` does to its schedule."""
    if config.lr_schedule == "cosine":
        return (f"the cosine schedule now spans {config.epochs} epochs instead of "
                f"{old_epochs}: the remaining epochs follow the longer cosine from where it "
                f"stands, so the run differs from one started with {config.epochs} epochs")
    return f"the {config.lr_schedule} schedule does not depend on the epoch count"


# ----------------------------------------------------------------------------- interrupts


class _StopRequest:
    """Set by SIGINT while training; the loop checks it between batches."""

    def __init__(self):
        self.requested = False


@contextmanager
def _sigint_stops_after_batch():
    """While active, SIGINT sets a flag instead of raising inside a kernel or a write.
    (Signal handlers can only be set from the main thread; elsewhere nothing changes.)"""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(_signum, _frame):
        stop.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------------------- training


def _payload(config, data, net, optimizer, epoch, history, selected, schedule_changes):
    return {"format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(config),
            "n_inputs": data.n_inputs, "n_classes": data.n_classes, "epoch": epoch,
            "selected_epoch": selected, "model": net.state_dict(),
            "optimizer": optimizer.state_dict(), "history": history,
            "schedule_changes": schedule_changes}


def _batch_loss(config: TrainConfig, net: SpikingNetwork, xb, yb):
    """(loss, output spike times) of one batch: the forward pass and the configured loss,
    with the output layer's input for the silent-label term when it is on."""
    outputs = net(xb, all_layers=True)
    in_times = net.layer_input(len(outputs) - 1, xb, outputs) \
        if config.silent_label_penalty > 0 else None
    return compute_loss(config, outputs[-1], yb, net, in_times), outputs[-1]


def _compile_kernels(config: TrainConfig, data: EncodedData, net: SpikingNetwork, log) -> None:
    """One training step and one evaluation of a few samples on a copy of ``net``: any
    kernel that numba has still to compile for this machine compiles here, announced on
    ``log``, instead of silently inside the first epoch. Weights, optimizer and random state
    are untouched.

    The evaluation runs in chunks of ``2 * threads`` samples (a batch large enough for one
    neuron block per sample, see :func:`multispike.steps.neuron_blocks`) and one sample
    more, so it takes the chunked path of a full evaluation batch."""
    chunk = 2 * numba.get_num_threads()
    with report_compilation(log), torch.random.fork_rng():
        probe = copy.deepcopy(net)
        xb, yb = data.x_train[:chunk + 1], data.y_train[:chunk + 1]
        _batch_loss(config, probe, xb, yb)[0].backward()
        probe.eval()
        probe.inference_chunk = chunk
        evaluate(probe, data.x_test[:chunk + 1], data.y_test[:chunk + 1], config.prediction_rule,
                 chunk + 1)


def _selected_record(history: list, selected) -> dict:
    return next((r for r in history if r["epoch"] == selected), {}) if selected else {}


def _open_run_folder(out: Path, resume: bool, overwrite: bool, log):
    """Check the folder, clean stale temporaries, and return the stored state to resume
    (None for a new run)."""
    last_path, best_path = out / "last.pt", out / "best.pt"
    check_writable(out)
    for stale in remove_stale_temporaries(out):
        log(f"removed {stale}, left by an interrupted write")
    if last_path.exists() and not (resume or overwrite):
        raise FileExistsError(f"{out} already holds a run (last.pt); pass resume=True (--resume) "
                              "to continue it or overwrite=True (--overwrite) to start over")
    if not (resume and last_path.exists()):
        if resume and (out / "config.json").exists():
            log(f"no epoch of the run in {out} had finished; restarting it from epoch 1")
        elif resume:
            log(f"no checkpoint in {out}; starting a new run")
        for stale in (last_path, best_path, out / "metrics.jsonl"):  # an overwritten run's
            # files must not survive
            stale.unlink(missing_ok=True)
        return None
    state = load_checkpoint(last_path)
    if repair_best(last_path, best_path, state):
        log(f"{best_path} was older than the epoch {last_path} selects; copied it over")
    return state


def train(config: TrainConfig | None, out_dir, resume: bool = False, overwrite: bool = False,
          progress: bool = True, log=print, epoch_end=None) -> dict:
    """Train ``config`` and write the run into ``out_dir``; return the final summary.

    With ``resume`` the run continues from ``out_dir/last.pt``; ``config`` may then be None
    (the stored one), and otherwise must agree with the stored run except for a longer
    ``epochs`` or a moved ``data_dir`` (see :func:`resume_config`). Without ``resume`` an
    existing run in ``out_dir`` is an error unless ``overwrite`` is set (checkpoints are
    never lost silently).

    The summary holds the final epoch's test accuracy and the epoch selected on validation
    accuracy (``best.pt``) with its validation and test accuracy (None without a
    validation split).

    ``epoch_end(record, net)``, if given, is called after each epoch's record is written; a
    true return value stops training there (a sweep pruning a trial).

    Under torch.distributed each process trains on its shard of every batch and only rank 0
    reads and writes the run folder (:mod:`multispike.distributed`).
    """
    out = Path(out_dir)
    processes = current_group()  # data parallelism: one process unless torch.distributed runs
    log, progress = (log, progress) if processes.writes_files else (quiet, False)
    state = None
    if resume and _stored_run(out)[0] is not None:
        settings = {} if config is None else dataclasses.asdict(resolve_config(config))
        settings.pop("name", None)
        config = resume_config(out, None if config is None else config.name, **settings)
    elif config is None:
        raise ValueError(f"config is None but {out} holds no run to resume")
    config = processes.broadcast(resolve_config(config))  # rank 0's (resumed) configuration
    last_path, best_path = out / "last.pt", out / "best.pt"
    folder_is_new = not out.exists()
    state = _open_run_folder(out, resume, overwrite, log) if processes.writes_files else None
    state = processes.broadcast(state)  # every process resumes from rank 0's checkpoint

    torch.manual_seed(config.seed)
    try:
        data = load_data(config)
    except BaseException:
        if folder_is_new and processes.writes_files and not any(out.iterdir()):
            out.rmdir()  # a run that could not start leaves no empty folder behind
        raise
    net = build_network(config, data.n_inputs, data.n_classes)
    optimizer = build_optimizer(config, net)
    start, history, selected, schedule_changes = 0, [], None, []
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = state["epoch"], state["history"]
        selected = state.get("selected_epoch")
        schedule_changes = state.get("schedule_changes", [])
        stored_epochs = state["config"]["epochs"]
        log(f"resuming {out} after epoch {start} of {stored_epochs}")
        if config.epochs != stored_epochs:
            schedule_changes.append({"after_epoch": start, "epochs_before": stored_epochs,
                                     "epochs_after": config.epochs})
            log(f"extending the run to {config.epochs} epochs: {_schedule_note(stored_epochs, config)}")
    processes.broadcast_parameters(net)
    if processes.writes_files:
        # 3 checkpoints' room: last.pt, best.pt and a temporary file while one is replaced
        check_writable(out, 3 * checkpoint_nbytes(
            _payload(config, data, net, optimizer, start, history, selected, schedule_changes)))
        write_atomic(out / "config.json", json.dumps(dataclasses.asdict(config), indent=2) + "\n")

    rule = config.prediction_rule
    has_val = len(data.y_val) > 0
    if not has_val:
        log("no validation split (val_size = 0): no checkpoint is selected, best.pt is not written")
    n_train = len(data.x_train)
    with _sigint_stops_after_batch() as stop:
        _compile_kernels(config, data, net, log)
        if stop.requested:
            raise TrainingInterrupted(out, start)
        for epoch in range(start, config.epochs):
            lr = learning_rate(config, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            order = torch.randperm(n_train, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
            t0 = time.perf_counter()
            loss_sum, correct, seen, skipped = 0.0, 0, 0, 0
            batches = range(0, n_train, config.batch_size)
            bar = None
            if progress:
                from tqdm import tqdm
                bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, unit="batch")
                batches = bar
            net.train()
            for i in batches:
                batch = order[i:i + config.batch_size]
                idx = processes.shard(batch)
                xb, yb = data.x_train[idx], data.y_train[idx]
                loss, out_times = _batch_loss(config, net, xb, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                processes.average_gradients(net.parameters(), len(idx), len(batch))
                if all(all_finite(p.grad) for p in net.parameters() if p.grad is not None):
                    optimizer.step()
                    if not all(all_finite(p) for p in net.parameters()):
                        if bar is not None:
                            bar.close()
                        raise TrainingDiverged(out, epoch, i // config.batch_size, lr)
                else:  # never let one bad batch poison the weights; counted in the metrics
                    skipped += 1
                loss_sum += loss.item() * len(idx) if len(idx) else 0.0
                correct += int((predict(out_times.detach(), rule) == yb).sum())
                seen += len(idx)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
                if stop.requested:
                    break
            if bar is not None:
                bar.close()
            if stop.requested:
                raise TrainingInterrupted(out, epoch)
            loss_sum, correct, seen = processes.sum(loss_sum, correct, seen)
            train_time = time.perf_counter() - t0
            net.eval()
            t1 = time.perf_counter()
            val = evaluate(net, data.x_val, data.y_val, rule, config.eval_batch_size) if has_val else None
            test = evaluate(net, data.x_test, data.y_test, rule, config.eval_batch_size)
            if stop.requested:
                raise TrainingInterrupted(out, epoch)
            record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / max(seen, 1),
                      "train_accuracy": correct / max(seen, 1),
                      "val_accuracy": val["accuracy"] if val else None,
                      "test_accuracy": test["accuracy"], "train_time_s": train_time,
                      "skipped_steps": skipped, "eval_time_s": time.perf_counter() - t1,
                      **{k: v for k, v in test.items() if k != "accuracy"}}
            history.append(record)
            best_val = _selected_record(history, selected).get("val_accuracy", -1.0)
            improved = has_val and record["val_accuracy"] > best_val
            if improved:
                selected = epoch + 1
            if processes.writes_files:
                payload = _payload(config, data, net, optimizer, epoch + 1, history, selected, schedule_changes)
                save_checkpoint(last_path, payload)  # last.pt first: it names the selected epoch
                if improved:
                    save_checkpoint(best_path, payload)
                write_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            spikes = ", ".join(f"{s:.1f}" for s in record["spikes_per_sample"])
            val_text = f"val {record['val_accuracy']:.4f}  " if has_val else ""
            skipped_text = f"  {skipped} steps skipped (non-finite gradients)" if skipped else ""
            log(f"epoch {epoch + 1}/{config.epochs}  loss {record['loss']:.4f}  "
                f"train {record['train_accuracy']:.4f}  {val_text}test {test['accuracy']:.4f}  "
                f"spikes/sample [{spikes}]  {train_time:.1f}s" + skipped_text
                + ("  (selected)" if improved else ""))
            if epoch_end is not None and epoch_end(record, net):
                break
    return summarize_run(config, history, selected, out)


def summarize_run(config: TrainConfig, history: list, selected, out) -> dict:
    """The run's summary: the final epoch, and the epoch selected on validation accuracy."""
    final, chosen = (history[-1] if history else {}), _selected_record(history, selected)
    return {"config": dataclasses.asdict(config), "epochs": len(history),
            "final_test_accuracy": final.get("test_accuracy"),
            "final_val_accuracy": final.get("val_accuracy"),
            "selected_epoch": selected, "selected_val_accuracy": chosen.get("val_accuracy"),
            "selected_test_accuracy": chosen.get("test_accuracy"),
            "history": history, "out_dir": str(out)}
