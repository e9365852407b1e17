"""Hyperparameter sweeps (``multispike sweep``): Optuna's TPE sampler with a pruner,
maximising validation accuracy, in this process or on Ray.

:mod:`~multispike.sweep.space` parses the searched settings, :mod:`~multispike.sweep.trial`
trains and scores one trial, :mod:`~multispike.sweep.search` runs the search and
:mod:`~multispike.sweep.report` writes the trial table, best configuration and plot.
"""
from .space import Param, apply_params, parse_param
from .search import TrialBook, run_sweep
from .report import write_sweep_outputs

__all__ = ["Param", "parse_param", "apply_params", "TrialBook", "run_sweep", "write_sweep_outputs"]
