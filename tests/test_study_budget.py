"""The spike-budget sweep: targets, drive-matched initialisation, the marking of
configurations that make no decision, and `multispike study budget --quick`."""
import csv
import math
import re

import pytest
import torch

from multispike.cli import main
from multispike.config import TrainConfig
from multispike.study import budget
from multispike.study.budget import (DECISION_MARGIN, configuration_status, failure_reason,
                                     input_spikes_at_init, matched_init,
                                     scaled_init, targets_for)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny problems: one kernel thread, as the study's workers


def test_targets_are_reachable_and_the_label_fills_its_slots():
    for k in range(2, 41):
        true, false = targets_for(k)
        assert true == k and 0 <= false < true and false == math.floor(2 * k / 15)
    assert targets_for(30) == (30.0, 4.0)
    with pytest.raises(ValueError, match="slots >= 2"):
        targets_for(1)


@pytest.mark.parametrize("spec", ["normal:0.034:0.046", "uniform:-1:1"])
def test_scaled_init_draws_scaled_weights(spec):
    from multispike.train import build_network

    def weights(init):
        torch.manual_seed(3)
        return build_network(TrainConfig(hidden=[7], init=init), 5, 3).layers[1].weight.detach()

    plain, scaled = weights([spec, spec]), weights([spec, scaled_init(spec, 2.5)])
    assert torch.allclose(scaled, 2.5 * plain, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="scale"):
        scaled_init(spec, 0.0)


def test_matched_init_gives_the_output_layer_the_reference_drive():
    from multispike.data import generate_yinyang
    from multispike.encoding import encode_yinyang

    reference = TrainConfig(hidden=[40], tau_s=0.35, thresholds=[1.0, 1.0], max_spikes=[10, 10], t_max=4.0,
                            init=["normal:0.7:5.7", "normal:0.03:0.05"])
    few_slots = TrainConfig(**{**reference.__dict__, "max_spikes": [2, 2]})
    x = encode_yinyang(generate_yinyang(200, seed=0)[0], 0.15, 2.0, 0.9)
    spikes = [input_spikes_at_init(c, x)[0] for c in (reference, few_slots)]
    assert spikes[1] < spikes[0]  # fewer hidden slots: less drive into the output layer
    init = matched_init(few_slots, x, input_spikes_at_init(reference, x))
    assert init[0] == reference.init[0]
    assert init[1] == scaled_init(reference.init[1], spikes[0] / spikes[1])


def test_failure_reason():
    assert failure_reason(0.9, 1.0, 3) is None
    assert failure_reason(1 / 3 + DECISION_MARGIN + 0.01, 0.6, 3) is None
    assert "not above chance" in failure_reason(1 / 3 + DECISION_MARGIN, 1.0, 3)
    assert "not above chance" in failure_reason(0.15, 1.0, 10) and failure_reason(0.25, 1.0, 10) is None
    silent = failure_reason(0.6, 0.4, 3)
    assert "no output spike on 60.0% of validation samples" in silent and "chance" not in silent
    both = failure_reason(0.0, 0.0, 3)
    assert "chance" in both and "no output spike" in both
    assert failure_reason(None, None, 3) is not None


def _row(k, factor, seed, accuracy, spikes, failure=None, ttfs=False):
    return {"slots": k, "ttfs_reference": ttfs, "hidden_threshold_factor": factor, "hidden_threshold": factor,
            "seed": seed, "accuracy": accuracy, "val_accuracy": accuracy, "total_spikes_per_sample": spikes,
            "total_synops_per_sample": 3 * spikes, "mean_decision_time_correct": spikes / 100,
            "hidden_silent_fraction": 0.1, "hidden_full_slots_fraction": 0.1, "failure": failure}


def test_failed_configurations_are_marked_and_kept_off_the_pareto_fronts():
    configs = {(1, 1.0, 0): None, (1, 1.0, 1): None, (3, 1.0, 0): None, (3, 1.0, 1): None,
               (10, 1.0, 0): None, (10, 1.0, 1): None, (None, 1.0, 0): None, (None, 1.0, 1): None}
    rows = [_row(1, 1.0, 0, 0.90, 200), _row(1, 1.0, 1, 0.92, 210),
            # the cheapest configuration: one seed fell silent, so the configuration failed
            _row(3, 1.0, 0, 0.00, 50, failure="no output spike on 100.0% of validation samples"),
            _row(3, 1.0, 1, 0.80, 60),
            _row(10, 1.0, 0, 0.95, 600), _row(10, 1.0, 1, 0.97, 620),
            _row(1, 1.0, 0, 0.93, 190, ttfs=True), _row(1, 1.0, 1, 0.93, 190, ttfs=True)]
    points = budget._points(configs, rows)
    by_label = {p["label"]: p for p in points}
    assert by_label["K=3"]["failure"] == "seed 0: no output spike on 100.0% of validation samples"
    assert not by_label["K=3"]["pareto_energy"] and not by_label["K=3"]["pareto_latency"]
    assert all(by_label[k]["failure"] is None for k in ("K=1 (TTFS loss)", "K=10", "TTFS preset"))
    # among the configurations that decide: TTFS (190 spikes, 93 %) and K=10 (96 %)
    assert [p["label"] for p in points if p["pareto_energy"]] == ["K=10", "TTFS preset"]
    assert by_label["K=10"]["accuracy"] == pytest.approx(0.96)
    assert configuration_status([{"seed": 0, "failure": None}]) is None


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _check_budget(out, plotted):
    """No configuration is plotted (or put on a front) as a non-decision: each point either
    decides, well above chance on validation and test, or is marked failed and left out."""
    points = _read_csv(out / "budget" / "budget_points.csv")
    runs = _read_csv(out / "budget" / "budget_runs.csv")
    chance = 1 / 3
    failed = [p for p in points if p["failure"]]
    for p in points:
        if p["failure"]:
            assert p["pareto_energy"] == p["pareto_latency"] == "False"
        else:
            assert float(p["val_accuracy"]) > chance + DECISION_MARGIN
            assert float(p["accuracy"]) > chance + DECISION_MARGIN / 2
    for r in runs:  # the failure of a run follows from its validation figures
        assert bool(r["failure"]) == (float(r["val_accuracy"]) <= chance + DECISION_MARGIN
                                      or float(r["val_decided_fraction"]) < 0.5)
    assert len(plotted) == len(points) - len(failed)
    assert all(q["failure"] is None and q["accuracy"] > chance + DECISION_MARGIN / 2 for q in plotted)
    section = (out / "budget" / "section.md").read_text()
    assert f"**Shows.** {len(failed)} of {len(points)} configurations failed to decide" in section
    assert len(re.findall(r"\| failed \(seed \d", section)) == len(failed)
    assert "**Similar spike counts.**" in section and "](budget/budget_pareto.png)" in section
    data = (out / "budget" / "budget_pareto.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def _run_budget(tmp_path, monkeypatch, extra):
    from multispike.study import plots

    plotted = []
    original = plots.pareto_plot

    def spy(path, points, *args, **kwargs):
        plotted.extend(points)
        return original(path, points, *args, **kwargs)

    monkeypatch.setattr(plots, "pareto_plot", spy)
    out = tmp_path / "study"
    assert main(["study", "budget", "--quick", "--out", str(out), "--serial", *extra]) == 0
    return out, plotted


def test_study_budget_quick_reduced(tmp_path, monkeypatch):
    out, plotted = _run_budget(tmp_path, monkeypatch, ["--set", "epochs=3", "--set", "train_size=600",
                                                       "--slots", "1,2,10", "--threshold-factors", "1"])
    _check_budget(out, plotted)
    assert len(_read_csv(out / "budget" / "budget_points.csv")) == 4


@pytest.mark.slow
def test_study_budget_quick(tmp_path, monkeypatch):
    """`multispike study budget --quick` as it is (about a minute on one core)."""
    out, plotted = _run_budget(tmp_path, monkeypatch, [])
    _check_budget(out, plotted)


def test_similar_spike_counts_answer():
    def point(k, factor, acc, spikes, failure=None):
        return {"slots": k, "factor": factor, "label": f"K={k}", "accuracy": acc, "accuracy_std": 0.0,
                "val_accuracy": acc, "spikes": spikes, "failure": failure}

    ttfs = [point(None, 1.0, 0.97, 200), point(None, 2.0, 0.95, 150)]
    reaches = budget._similar_spikes_text(ttfs + [point(3, 2.0, 0.965, 140), point(10, 1.0, 0.99, 600),
                                                  point(2, 2.0, 0.99, 100, failure="seed 0: ...")])
    assert "(hidden θ × 1)" in reaches and "K=3 at θ × 2" in reaches and "**reaches**" in reaches
    below = budget._similar_spikes_text(ttfs + [point(3, 2.0, 0.90, 240)])
    assert "**does not reach**" in below
    none = budget._similar_spikes_text(ttfs + [point(10, 1.0, 0.99, 600)])
    assert "No multi-spike configuration" in none
    assert "Not answered" in budget._similar_spikes_text(ttfs)
