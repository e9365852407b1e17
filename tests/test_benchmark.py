"""The benchmark's verdict on its targets (``TARGETS`` in benchmarks/bench_training.py)."""
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_training.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verdicts(bench, rates, reference=200.0, memory=1300.0, infer_batch=500):
    return {target: met for target, _, met in bench.target_lines(rates, reference, memory,
                                                                   infer_batch)}


def test_all_targets_met(bench):
    rates = {"mnist-multispike": {"train": 8000.0, "infer": 30000.0},
             "mnist-ttfs": {"train": 10000.0, "infer": 35000.0},
             "mnist-multispike@3": {"train": 4500.0, "infer": 20000.0}}
    verdicts = _verdicts(bench, rates)
    assert len(verdicts) == 10 and all(verdicts.values())


def test_the_general_ratio_is_judged_against_the_two_to_one_network(bench):
    target = "mnist-multispike at tau_mem = 3 tau_s: training time <= 2x the 2:1 network's"
    rates = {"mnist-multispike": {"train": 8000.0, "infer": 30000.0},
             "mnist-multispike@3": {"train": 3900.0, "infer": 20000.0}}
    assert _verdicts(bench, rates)[target] is False   # 2.05x
    rates["mnist-multispike@3"]["train"] = 4100.0
    assert _verdicts(bench, rates)[target] is True    # 1.95x
    del rates["mnist-multispike@3"]
    assert _verdicts(bench, rates)[target] is None


def test_each_missed_target_is_reported(bench):
    rates = {"mnist-multispike": {"train": 2900.0, "infer": 14000.0},
             "mnist-ttfs": {"train": 10000.0, "infer": 13000.0}}
    verdicts = _verdicts(bench, rates, reference=200.0, memory=2100.0)
    missed = sorted(t for t, met in verdicts.items() if met is False)
    assert missed == sorted([
        "mnist-multispike training >= 3000 samples/s",
        "60 000-sample epoch <= 20 s",   # 60 000 / 2900 = 20.7 s
        "mnist-multispike inference >= 15000 samples/s (batch >= 100)",
        "mnist-ttfs inference at least as fast per sample as mnist-multispike",
        "peak memory < 2048 MB",
        "mnist-multispike >= 20x the clock-driven reference",   # 14.5x
    ])
    assert verdicts["mnist-ttfs >= 20x the clock-driven reference"] is True   # 50x


def test_unmeasured_targets_are_not_decided(bench):
    rates = {"mnist-multispike": {"train": 8000.0, "infer": 30000.0}}
    verdicts = _verdicts(bench, rates, reference=None, infer_batch=50)
    assert verdicts["mnist-multispike inference >= 15000 samples/s (batch >= 100)"] is None
    assert verdicts["mnist-multispike >= 20x the clock-driven reference"] is None
    assert verdicts["mnist-ttfs training at least as fast per sample as mnist-multispike"] is None
    assert verdicts["mnist-multispike training >= 3000 samples/s"] is True


def test_a_preset_left_out_leaves_its_targets_undecided(bench):
    rates = {"mnist-ttfs": {"train": 10000.0, "infer": 35000.0}}
    verdicts = _verdicts(bench, rates)
    assert verdicts["mnist-multispike training, epoch and inference targets"] is None
    assert verdicts["mnist-ttfs inference at least as fast per sample as mnist-multispike"] is None
    assert verdicts["mnist-ttfs >= 20x the clock-driven reference"] is True
