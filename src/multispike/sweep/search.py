"""The search: Optuna's TPE sampler proposes settings, an asynchronous successive-halving
(ASHA) or median pruner stops hopeless trials after an epoch, and a journal file in the
output folder stores every trial, so an interrupted sweep resumes where it stopped.

The driver asks Optuna for settings and tells it the results; trials run in this process or
as Ray tasks. Under Ray the study lives in one actor on the driver's machine (it owns the
journal file) and the trials report their epochs to it, so workers need no shared file
system and pruning decisions see every trial's progress.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import TrainConfig
from ..extras import require
from .space import Param, apply_params
from .trial import require_validation, run_trial

__all__ = ["TrialBook", "run_sweep", "JOURNAL", "STUDY_NAME"]

JOURNAL = "optuna-journal.log"
STUDY_NAME = "multispike-sweep"
PRUNERS = ("asha", "median", "none")
EXECUTORS = ("serial", "ray")  # where trials run (the words of multispike.cli_options.EXECUTORS)


def _require_optuna():
    return require("optuna", "distributed", "multispike sweep")


def make_pruner(name: str):
    optuna = _require_optuna()
    if name == "asha":  # rungs at epochs 1, 2, 4, ...; keeps the best half at each rung
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {PRUNERS}, got {name!r}")


class TrialBook:
    """The Optuna study of a sweep: it proposes settings (:meth:`ask`), takes each epoch's
    validation accuracy and says whether to prune (:meth:`report`) and records the outcome
    (:meth:`tell`). Its storage is the journal file ``out/optuna-journal.log``."""

    def __init__(self, out, params, pruner: str = "asha", seed: int = 0):
        optuna = _require_optuna()
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        Path(out).mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(Path(out) / JOURNAL)))
        self.study = optuna.create_study(
            storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, len(params) * 2)),
            pruner=make_pruner(pruner))
        self.distributions = {p.name: p.distribution() for p in params}
        self._trials = {}

    def recover(self) -> int:
        """Trials left running by an interrupted sweep are marked failed and queued again
        with the same settings; returns how many."""
        from optuna.trial import TrialState

        stale = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for t in stale:
            self.study.tell(t.number, state=TrialState.FAIL)
            self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        return len(stale)

    def finished(self) -> int:
        """Trials that completed, were pruned or failed with an error (not interrupted)."""
        from optuna.trial import TrialState

        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                   or (t.state == TrialState.FAIL and "error" in t.user_attrs))

    def ask(self) -> tuple:
        trial = self.study.ask(self.distributions)
        self._trials[trial.number] = trial
        return trial.number, dict(trial.params)

    def report(self, number: int, epoch: int, value: float) -> bool:
        trial = self._trials[number]
        trial.report(value, epoch)
        return trial.should_prune()

    def tell(self, number: int, result: dict | None, error: str | None = None) -> None:
        from optuna.trial import TrialState

        trial = self._trials.pop(number)
        if error is not None:
            trial.set_user_attr("error", error[-2000:])
            self.study.tell(trial, state=TrialState.FAIL)
            return
        trial.set_user_attr("history", result["history"])
        if result["pruned"]:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, result["val_accuracy"])


class _ActorBook:
    """What a trial running as a Ray task holds: the book's :meth:`TrialBook.report` over Ray."""

    def __init__(self, handle):
        self.handle = handle

    def report(self, number, epoch, value):
        import ray
        return ray.get(self.handle.report.remote(number, epoch, value))


def _trial_in_worker(args: tuple) -> dict:
    config, run_dir, handle, number = args
    return run_trial(config, run_dir, _ActorBook(handle), number)


def run_sweep(base: TrainConfig, params: list[Param], trials: int, out, pruner: str = "asha", seed: int = 0, executor: str = "serial", address: str | None = None,
              workers: int | None = None, log=print) -> TrialBook:
    """Run the sweep until ``trials`` trials have finished (completed, pruned or failed),
    counting those of earlier runs into ``out``; returns the book (its ``study``)."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if not params:
        raise ValueError("a sweep needs at least one --param")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    require_validation(base)
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    for p in params:  # every sampled value must give a valid configuration
        apply_params(base, {p.name: p.choices[0] if p.kind == "choice" else p.low})
    if executor == "serial":
        return _run_serial(base, params, trials, out, pruner, seed, log)
    return _run_ray(base, params, trials, out, pruner, seed, address, workers, log)


def _trial_config(base, values, number, out):
    config = dataclasses.asdict(apply_params(base, values))
    return config, str(out / "trials" / f"trial-{number:04d}")


def _run_serial(base, params, trials, out, pruner, seed, log):
    import numba
    import torch

    book = TrialBook(out, params, pruner, seed)
    recovered = book.recover()
    _log_start(recovered, book.finished(), trials, "this process", log)
    saved = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        while book.finished() < trials:
            number, values = book.ask()
            config, run_dir = _trial_config(base, values, number, out)
            try:
                result = run_trial(config, run_dir, book, number)
            except (ValueError, RuntimeError, FloatingPointError) as exc:
                book.tell(number, None, error=f"{type(exc).__name__}: {exc}")
                log(f"trial {number}: failed ({exc})")
                continue
            book.tell(number, result)
            _log_trial(number, values, result, log)
    finally:
        numba.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])
    return book


def _run_ray(base, params, trials, out, pruner, seed, address, workers, log):
    from ..study.ray_executor import connect, require_ray, with_threads

    ray = require_ray()
    owns = connect(address, workers)
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        book = ray.remote(TrialBook).options(num_cpus=0, scheduling_strategy=here).remote(
            out, params, pruner, seed)
        slots = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        task = ray.remote(num_cpus=1, max_retries=0)(with_threads)
        recovered = ray.get(book.recover.remote())
        finished = ray.get(book.finished.remote())
        _log_start(recovered, finished, trials, f"{slots} Ray worker(s)", log)
        running = {}
        while finished + len(running) < trials or running:
            while finished + len(running) < trials and len(running) < slots:
                number, values = ray.get(book.ask.remote())
                config, run_dir = _trial_config(base, values, number, out)
                args = (config, run_dir, book, number)
                running[task.remote(_trial_in_worker, args, 1)] = (number, values)
            done, _ = ray.wait(list(running), num_returns=1)
            number, values = running.pop(done[0])
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:
                ray.get(book.tell.remote(number, None, error=str(exc)))
                log(f"trial {number}: failed ({str(exc).splitlines()[-1]})")
            else:
                ray.get(book.tell.remote(number, result))
                _log_trial(number, values, result, log)
            finished = ray.get(book.finished.remote())
        return TrialBook(out, params, pruner, seed)  # the journal as the actor left it
    finally:
        if owns:
            ray.shutdown()


def _log_start(recovered, finished, trials, where, log):
    note = f"; {recovered} interrupted trial(s) queued again" if recovered else ""
    log(f"sweep: {trials} trials on {where}" + (f", {finished} already finished" if finished else "") + note)


def _log_trial(number, values, result, log):
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    state = f"pruned after epoch {len(result['history'])}" if result["pruned"] else "complete"
    log(f"trial {number}: {shown}  validation accuracy {result['val_accuracy']:.4f} ({state})")

