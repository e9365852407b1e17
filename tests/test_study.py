"""The trade-off study: runner, batched convergence training, and `multispike study all --quick`."""
import csv
import json
import math
from pathlib import Path

import pytest
import torch

from multispike.cli import main
from multispike.functional import lif
from multispike.losses import predict, spike_count_loss, ttfs_cross_entropy
from multispike.study.cli import parse_sets
from multispike.study.common import pareto_front
from multispike.study.convergence import (INPUT_TIMES, PROBLEM, REGIME_SETTINGS, _block_diagonal,
                                          initial_weights, train_repeats)
from multispike.study.runner import SerialExecutor, make_task, run_tasks, to_jsonable


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny problems: one kernel thread, as the study's workers


# --- convergence batching -------------------------------------------------------------------

def _train_single(w0: torch.Tensor, regime: str, epochs: int):
    """One 4->2 network trained on its own, written out plainly (no batching)."""
    rs, p = REGIME_SETTINGS[regime], PROBLEM
    x = torch.tensor(INPUT_TIMES, dtype=torch.float64).unsqueeze(-1)  # (2 samples, 4, 1)
    y = torch.tensor([0, 1])
    rule = "first_spike" if rs["loss"] == "ttfs" else "spike_count"
    w = w0.clone()
    accs = []
    for epoch in range(epochs + 1):
        w.requires_grad_(True)
        out = lif(x, w, tau_s=p["tau_s"], threshold=p["threshold"], reset=p["threshold"],
                  max_spikes=rs["max_spikes"], t_max=p["t_max"])
        accs.append((predict(out.detach(), rule) == y).double().mean().item())
        if epoch == epochs:
            break
        if rs["loss"] == "ttfs":
            loss = ttfs_cross_entropy(out, y, rs["tau_loss"], silent_time=p["t_max"])
        else:
            loss = spike_count_loss(out, y, rs["target_true"], rs["target_false"])
        (g,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w = w - p["lr"] * g if torch.isfinite(g).all() else w.detach()
    return torch.tensor(accs, dtype=torch.float64), w.detach()


@pytest.mark.parametrize("regime", ["ttfs", "multispike"])
def test_batched_repeats_equal_separately_trained_networks(regime):
    w0 = initial_weights(1.0, 1.2, 5, seed=11)
    batched = train_repeats(w0, regime, epochs=20)
    assert batched["accuracy"].shape == (5, 21)
    for r in range(5):
        acc, w = _train_single(w0[r], regime, 20)
        assert torch.equal(batched["accuracy"][r], acc)
        assert torch.allclose(batched["weights"][r], w, rtol=0, atol=1e-10)
    assert torch.equal(w0, initial_weights(1.0, 1.2, 5, seed=11))  # inputs untouched


def test_block_diagonal_layout():
    blocks = torch.arange(1.0, 17.0).reshape(2, 2, 4)
    m = _block_diagonal(blocks)
    assert m.shape == (4, 8)
    assert torch.equal(m[:2, :4], blocks[0]) and torch.equal(m[2:, 4:], blocks[1])
    assert (m[:2, 4:] == 0).all() and (m[2:, :4] == 0).all()


def test_multispike_learns_where_ttfs_cannot():
    """Equal weights: both samples look the same until t = 1, so a TTFS network that fires
    before then cannot separate them; spikes after t = 1 let the multi-spike one learn."""
    w0 = torch.full((1, 2, 4), 2.4, dtype=torch.float64)
    assert train_repeats(w0, "ttfs")["accuracy"].max() == 0.5
    assert train_repeats(w0, "multispike")["accuracy"].max() == 1.0


# --- runner ---------------------------------------------------------------------------------

def record_call(path: str, value: int) -> dict:
    with open(path, "a") as f:
        f.write(f"{value}\n")
    return {"value": value, "nan": math.nan}


def test_tasks_run_once_and_resume(tmp_path):
    log = tmp_path / "calls.txt"
    tasks = [make_task(record_call, {"path": str(log), "value": v}, tmp_path / "r" / f"t{v}.json")
             for v in range(3)]
    tasks.append(dict(tasks[0]))  # a duplicate runs once
    res = run_tasks(tasks, SerialExecutor())
    assert res["t1"]["value"] == 1 and res["t1"]["nan"] is None
    assert log.read_text().split() == ["0", "1", "2"]
    (tmp_path / "r" / "t2.json").unlink()  # as if the sweep crashed before task 2 finished
    run_tasks(tasks, SerialExecutor())
    assert log.read_text().split() == ["0", "1", "2", "2"]
    json.dumps(tasks)  # tasks are plain JSON
    with pytest.raises(ValueError, match="top-level"):
        make_task(lambda: 0, {}, tmp_path / "x.json")


def test_helpers():
    assert to_jsonable({"a": torch.tensor([1.0, math.inf]), "b": (1, 2)}) == {"a": [1.0, None], "b": [1, 2]}
    assert pareto_front([3, 1, 2, 5], [0.9, 0.5, 0.5, 0.95]) == [1, 0, 3]
    assert parse_sets(["epochs=3", "multispike.lr=0.01", "ttfs.hidden=8,4", "thresholds=1,2"]) == {
        "all": {"epochs": 3, "thresholds": [1.0, 2.0]}, "multispike": {"lr": 0.01}, "ttfs": {"hidden": [8, 4]}}
    with pytest.raises(ValueError):
        parse_sets(["bogus=1"])


def test_full_and_quick_scales(tmp_path):
    from multispike.study import EXPERIMENTS, StudyContext

    full = StudyContext(out=tmp_path, quick=False)
    conv = EXPERIMENTS["convergence"].settings(full)
    assert len(conv["means"]) == len(conv["stds"]) == 13 and conv["repeats"] == 100
    assert conv["means"][-1] == pytest.approx(2.4) and conv["means"][1] == pytest.approx(0.2)
    assert EXPERIMENTS["budget"].settings(full)["slots"] == [1, 2, 3, 5, 10, 30]
    assert len(EXPERIMENTS["convergence"].plan(full)[0]) == 26  # one task per regime and mean
    quick = StudyContext(out=tmp_path, quick=True)
    assert len(EXPERIMENTS["convergence"].settings(quick)["means"]) == 3
    assert EXPERIMENTS["accuracy"].settings(quick)["seeds"] == [0, 1]


# --- the whole study at (reduced) quick scale -----------------------------------------------

def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _check_outputs(out: Path, grid: int):
    report = (out / "report.md").read_text()
    for title in ("Accuracy and convergence speed", "Spike budget", "Prediction latency",
                  "Robustness to noise", "Adversarial attacks on input spike times",
                  "Convergence against weight initialisation"):
        assert f"## {title}" in report
    assert "**Run.**" in report and "**Shows.**" in report
    for png in ("accuracy/accuracy_curves.png", "budget/budget_pareto.png", "latency/accuracy_vs_time.png",
                "latency/decision_times.png", "noise/noise.png", "attack/attack_curves.png",
                "attack/attack_example.png", "convergence/convergence_heatmaps.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png
        assert f"]({png})" in report
    for row in _read_csv(out / "accuracy" / "accuracy_runs.csv"):
        assert 0.0 <= float(row["final_test_accuracy"]) <= 1.0
        assert float(row["total_spikes_per_sample"]) > 0
    for row in _read_csv(out / "accuracy" / "accuracy_curves.csv"):
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
    points = _read_csv(out / "budget" / "budget_points.csv")
    assert any(p["pareto_energy"] == "True" for p in points)
    assert all(0.0 <= float(p["accuracy"]) <= 1.0 for p in points)
    for p in points:  # a configuration without a decision is marked failed, never a 0 % point
        assert p["failure"] or float(p["val_accuracy"]) > 1 / 3 + 0.1
        assert not p["failure"] or p["pareto_energy"] == p["pareto_latency"] == "False"
    lat = json.loads((out / "latency" / "latency_summary.json").read_text())
    for regime in ("ttfs", "multispike"):
        assert 0.0 <= lat[regime]["accuracy"] <= 1.0
    curves = _read_csv(out / "latency" / "latency_curves.csv")
    ttfs = [float(r["accuracy"]) for r in curves if r["regime"] == "ttfs"]
    assert all(b >= a for a, b in zip(ttfs, ttfs[1:]))  # a TTFS decision never changes
    assert ttfs[-1] == pytest.approx(lat["ttfs"]["accuracy"])
    noise = _read_csv(out / "noise" / "noise.csv")
    assert {r["kind"] for r in noise} == {"input_jitter", "input_deletion", "weight", "threshold"}
    assert all(0.0 <= float(r["mean"]) <= 1.0 and float(r["std"]) >= 0 for r in noise)
    _check_attack(out)
    heat = json.loads((out / "convergence" / "convergence_heatmap.json").read_text())
    assert heat["shape"] == [grid, grid]
    for regime in ("ttfs", "multispike"):
        values = torch.tensor(heat["mean_best_accuracy"][regime])
        assert values.shape == (grid, grid) and ((values >= 0) & (values <= 1)).all()
        assert values[0, 0] == 0.0  # all weights zero: no output spike, no decision
    study = json.loads((out / "study.json").read_text())
    assert study["scale"] == "quick"
    claims = _read_csv(out / "claims" / "claims.csv")
    assert [c["claim"] for c in claims[:5]] == ["higher performance", "higher performance",
                                               "faster convergence", "similar sparsity",
                                               "comparable latency"]
    assert [c["claim"] for c in claims[5:]] == ["better robustness"] * 6
    assert "any shift attack" in claims[9]["measure"] and "any deletion attack" in claims[10]["measure"]
    for c in claims:
        assert c["n_ttfs"] == c["n_multispike"] == "2"
        # two networks per regime: the smallest attainable p is 1/3, nothing is significant
        assert float(c["p"]) >= 1 / 3 - 1e-12
        assert c["verdict"] in ("not significant", "holds")
        if c["verdict"] == "holds":  # only a similarity claim can hold without significance
            assert c["claim"] in ("similar sparsity", "comparable latency")
            ratio = float(c["multispike_mean"]) / float(c["ttfs_mean"])
            assert 0.8 <= ratio <= 1.25
    runs = _read_csv(out / "accuracy" / "accuracy_runs.csv")
    ttfs_acc = [float(r["final_test_accuracy"]) for r in runs if r["regime"] == "ttfs"]
    assert float(claims[0]["ttfs_mean"]) == pytest.approx(sum(ttfs_acc) / len(ttfs_acc))
    assert "## The paper's claims: verdicts" in report


def _check_attack(out: Path, n_networks: int = 2):
    rows = _read_csv(out / "attack" / "attack.csv")
    assert {r["attack"] for r in rows} == {"fgsm", "pgd", "random_search", "any_shift", "gradient_deletion",
                                           "exact_deletion", "random_deletion", "any_deletion"}
    for regime in ("ttfs", "multispike"):
        mine = {(r["attack"], float(r["level"])): r for r in rows if r["regime"] == regime}
        assert all(int(r["n_networks"]) == n_networks for r in mine.values())
        clean = float(mine[("pgd", 0.0)]["mean"])
        assert 0.0 < clean <= 1.0
        for (attack, level), r in mine.items():
            acc = float(r["mean"])
            assert 0.0 <= acc <= 1.0
            if attack != "random_deletion":  # exactly k random deletions may also help
                assert acc <= clean + 1e-12, (attack, level)  # an attack never helps
            if attack.startswith("any_"):  # a family is at least as strong as each member
                members = [m for (a, lv), m in mine.items() if lv == level and not a.startswith("any_")
                           and m["kind"] == r["kind"] and a != "random_deletion"]
                assert all(acc <= float(m["mean"]) + 1e-12 for m in members)
        top = max(lv for (a, lv) in mine if a == "pgd")
        assert float(mine[("pgd", top)]["mean"]) < clean  # the attack is real
    runs = _read_csv(out / "attack" / "attack_runs.csv")
    assert len({(r["regime"], r["network"]) for r in runs}) == 2 * n_networks
    summary = json.loads((out / "attack" / "attack_summary.json").read_text())
    assert set(summary["examples"]) <= {"ttfs", "multispike"} and summary["examples"]
    for ex in summary["examples"].values():
        assert len(ex["inputs_clean"]) == len(ex["inputs_attacked"]) == 5  # Yin-Yang: 4 data + bias
        assert ex["inputs_clean"][4] == ex["inputs_attacked"][4]  # the bias spike is not attacked
    section = (out / "attack" / "section.md").read_text()
    assert "**Run.**" in section and "**Shows.**" in section and "](attack/attack_curves.png)" in section


def test_half_accuracy_level():
    from multispike.study.attack import half_accuracy_level
    assert half_accuracy_level([0, 0.1, 0.2], [0.9, 0.6, 0.3]) == pytest.approx(0.15)
    assert half_accuracy_level([0.2, 0, 0.1], [0.3, 0.9, 0.6]) == pytest.approx(0.15)  # any order
    assert half_accuracy_level([0, 1, 2], [1.0, 0.5, 0.1]) == 1
    assert half_accuracy_level([0, 1], [0.9, 0.5]) is None


def test_study_attack_quick_reduced(tmp_path):
    """`multispike study attack --quick`, shrunk: trains both regimes and attacks them."""
    out = tmp_path / "study"
    assert main(["study", "attack", "--quick", "--out", str(out), "--serial", "--set", "epochs=2",
                 "--set", "train_size=300", "--set", "test_size=150", "--epsilons", "0,0.1",
                 "--deletions", "0,1,4", "--attack-steps", "3"]) == 0
    _check_attack(out)
    report = (out / "report.md").read_text()
    assert "## Adversarial attacks on input spike times" in report
    for png in ("attack/attack_curves.png", "attack/attack_example.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png


def test_study_all_quick_reduced(tmp_path, capsys):
    """`multispike study all --quick` through the CLI and the process pool, shrunk further,
    then a second run that finds every task done."""
    out = tmp_path / "study"
    args = ["study", "all", "--quick", "--out", str(out), "--workers", "2", "--set", "epochs=2",
            "--set", "train_size=300", "--set", "test_size=200", "--slots", "1,3", "--threshold-factors", "1",
            "--noise-seeds", "2", "--repeats", "3", "--init-grid", "0,1.2,2.4", "--grid-points", "50",
            "--epsilons", "0,0.1", "--deletions", "0,1,4", "--attack-steps", "3"]
    assert main(args) == 0
    _check_outputs(out, 3)
    capsys.readouterr()
    assert main(args[:5] + ["--serial"] + args[7:]) == 0  # same tasks: nothing to run
    log = capsys.readouterr().out
    assert "running 0" in log and "running 1" not in log


@pytest.mark.slow
def test_study_all_quick(tmp_path):
    """The CI command itself (about half a minute on 2 idle cores)."""
    out = tmp_path / "study"
    assert main(["study", "all", "--quick", "--out", str(out)]) == 0
    _check_outputs(out, 3)


def test_permutation_test_and_verdicts():
    from multispike.study.stats import compare, permutation_test

    # 5 vs 5 fully separated: only the observed split and its mirror are as extreme
    assert permutation_test([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert permutation_test([1, 2], [1, 2]) == 1.0
    # brute-force check on a small uneven case
    import itertools
    a, b = [0.1, 0.5, 0.2], [0.7, 0.4]
    pooled, obs = a + b, abs(sum(b) / 2 - sum(a) / 3)
    splits = list(itertools.combinations(range(5), 3))
    expect = sum(abs((sum(pooled) - sum(pooled[i] for i in s)) / 2 - sum(pooled[i] for i in s) / 3)
                 >= obs - 1e-12 for s in splits) / len(splits)
    assert permutation_test(a, b) == pytest.approx(expect)
    better = compare([0.90, 0.91, 0.92, 0.90, 0.91], [0.95, 0.96, 0.97, 0.95, 0.96], True)
    assert better["verdict"] == "holds" and better["difference"] == pytest.approx(0.05)
    assert compare([0.95, 0.96, 0.97, 0.95, 0.96], [0.90, 0.91, 0.92, 0.90, 0.91], True)["verdict"] == "reversed"
    assert compare([1, 2, 3, 4, 5], [2, 3, 4, 5, 6], True)["verdict"] == "not significant"
    # similarity: within a factor 1.25 of the TTFS mean, else a significant difference
    assert compare([10, 11, 12, 13, 14], [11, 12, 13, 14, 15], False, "similar")["verdict"] == "holds"
    assert compare([1, 2, 3, 4, 5], [11, 12, 13, 14, 15], False, "similar")["verdict"] == "does not hold"
    assert compare([1, 2], [11, 12], False, "similar")["verdict"] == "not significant"
    assert compare([], [1.0], True)["verdict"] == "not measured"



def test_noise_accuracy_drop_is_the_mean_over_the_noisy_levels():
    from multispike.study import noise
    rows = [{"regime": "ttfs", "kind": "jitter", "network": n, "level": level, "accuracy": acc}
            for n, accs in (("a", (0.9, 0.8, 0.4)), ("b", (1.0, 1.0, 0.5)))
            for level, acc in zip((0, 0.1, 0.2), accs)]
    drops = noise.accuracy_drops(rows, {"jitter": [0, 0.1, 0.2]})
    assert drops[("ttfs", "jitter")] == pytest.approx([(0.1 + 0.5) / 2, (0.0 + 0.5) / 2])
    assert drops[("multispike", "jitter")] == []
    assert noise.drop_measure([0, 0.1, 0.2]) == "mean accuracy drop over levels 0.1-0.2"
