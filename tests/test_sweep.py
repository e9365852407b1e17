"""`multispike sweep`: the search space, a small pruned sweep on Yin-Yang whose best
configuration `train --config` accepts, and resuming an interrupted sweep."""
import csv
import json

import pytest

from multispike.cli import main
from multispike.config import TrainConfig
from multispike.sweep.space import apply_params, parse_param

pytest.importorskip("optuna")

SWEEP = ["sweep", "--preset", "yinyang-ttfs", "--param", "lr=log:1e-4:1e-1", "--param", "tau_s=0.2:0.5",
         "--epochs", "2", "--set", "hidden=30", "--set", "train_size=500", "--seed", "0"]


def _rows(out):
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_param_parsing_and_application():
    assert parse_param("lr=log:1e-4:1e-2") == parse_param("lr = log:0.0001:0.01")
    p = parse_param("thresholds[0]=0.5:2")
    assert (p.field, p.index, p.kind, p.low, p.high) == ("thresholds", 0, "float", 0.5, 2.0)
    assert parse_param("batch_size=int:10:100").kind == "int"
    assert parse_param("lr_schedule=choice:constant,cosine").choices == ("constant", "cosine")
    config = apply_params(TrainConfig(), {"thresholds[1]": 0.7, "lr": 0.02, "resets[0]": 0.5})
    assert config.thresholds == [1.0, 0.7] and config.lr == 0.02 and config.resets == [0.5, 1.0]
    for bad in ("lr", "lr=1:0.5", "lr=log:0:1", "bogus=0:1", "thresholds=0:1", "lr[0]=0:1",
                "epochs=int:1:5", "batch_size=int:1.5:4", "loss=choice:ttfs"):
        with pytest.raises(ValueError):
            parse_param(bad)


def test_small_sweep_prunes_and_its_best_config_trains(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main([*SWEEP, "--trials", "6", "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 6 and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows)
    assert any(r["state"] == "PRUNED" for r in rows) and any(r["state"] == "COMPLETE" for r in rows)
    trials = json.loads((out / "trials.json").read_text())
    for t in trials:  # scored on the validation split, never the test set
        assert all(0 <= h["val_accuracy"] <= 1 and "test_accuracy" not in h for h in t["history"])
    best = json.loads((out / "best_trial.json").read_text())
    complete = [float(r["val_accuracy"]) for r in rows if r["state"] == "COMPLETE"]
    assert best["val_accuracy"] == max(complete)
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    config = json.loads((out / "best_config.json").read_text())
    assert config["lr"] == best["params"]["lr"] and config["hidden"] == [30]
    assert config["train_size"] == 500 and config["val_size"] == 1000  # as the trials trained
    run = tmp_path / "run"
    assert main(["train", "--config", str(out / "best_config.json"), "--epochs", "1", "--out", str(run),
                 "--no-progress"]) == 0
    trained = json.loads((run / "config.json").read_text())
    assert trained == {**config, "epochs": 1}  # the file's values, the command line's epochs

    capsys.readouterr()  # the same command with more trials continues the search
    assert main([*SWEEP, "--trials", "7", "--out", str(out)]) == 0
    assert "7 trials on this process, 6 already finished" in capsys.readouterr().out
    assert len(_rows(out)) == 7


def test_interrupted_trial_runs_again(tmp_path, capsys):
    from multispike.sweep.search import TrialBook

    out = tmp_path / "sweep"
    params = [parse_param("lr=log:1e-4:1e-1"), parse_param("tau_s=0.2:0.5")]
    number, values = TrialBook(out, params).ask()  # left running, as by a killed sweep
    assert main([*SWEEP, "--trials", "1", "--out", str(out)]) == 0
    assert "1 interrupted trial(s) queued again" in capsys.readouterr().out
    rows = _rows(out)
    assert [r["state"] for r in rows] == ["FAIL", rows[1]["state"]] and rows[1]["state"] != "FAIL"
    assert float(rows[1]["param:lr"]) == values["lr"]


def test_sweep_needs_a_validation_split(tmp_path, capsys):
    assert main([*SWEEP, "--set", "val_size=0", "--trials", "1", "--out", str(tmp_path)]) == 2
    assert "val_size must be > 0" in capsys.readouterr().err


def test_train_config_file_is_checked(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr": 0.01, "learning_rate": 0.01}))
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "learning_rate" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_on_ray(tmp_path, capsys):
    """Trials as Ray tasks on a local two-CPU instance, reporting to the study's actor."""
    pytest.importorskip("ray")
    out = tmp_path / "sweep"
    assert main([*SWEEP, "--trials", "5", "--executor", "ray", "--workers", "2", "--out", str(out)]) == 0
    assert "5 trials on 2 Ray worker(s)" in capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 5 and {r["state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    assert (out / "best_config.json").is_file()
    assert len(list((out / "trials").glob("trial-*/metrics.jsonl"))) == 5


def test_missing_optuna_says_what_to_install(monkeypatch, tmp_path, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    assert main([*SWEEP, "--trials", "1", "--out", str(tmp_path)]) == 2
    assert 'pip install "multispike[distributed]"' in capsys.readouterr().err


def test_sweep_set_accepts_the_training_seed_the_study_refuses_it():
    from multispike.study.cli import parse_sets
    assert parse_sets(["seed=3", "lr=0.01"], reserved=("name",)) == {"all": {"seed": 3, "lr": 0.01}}
    with pytest.raises(ValueError, match="reserved setting 'seed'"):
        parse_sets(["seed=3"])
