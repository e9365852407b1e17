"""Runs a user can trust: resume cannot change the experiment, checkpoints load without
running code, ``best.pt`` always holds the reported selection, Ctrl-C and output-side errors
end cleanly, and bad options get clear errors."""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import multispike
import multispike.checkpoint as checkpoint_module
import multispike.train as train_module
from multispike.checkpoint import (CHECKPOINT_FORMAT, CheckpointWriteError, UnsafeCheckpointError,
                                   load_checkpoint, write_atomic)
from multispike.cli import main
from multispike.presets import get_preset
from multispike.train import evaluate, load_data, load_trained, train

DATA = Path(__file__).parent / "data"
SMALL = dict(train_size=300, val_size=200, test_size=200, seed=1, hidden=[40])


def quiet(*args, **kwargs):
    pass


def small(**overrides):
    return get_preset("yinyang-multispike", **{**SMALL, **overrides})


def cli(*argv):
    return main([str(a) for a in argv])


def small_cli_options():
    return ["--train-size", "300", "--val-size", "200", "--test-size", "200", "--seed", "1",
            "--hidden", "40", "--no-progress"]


def without_times(history):
    return [{k: v for k, v in r.items() if not k.endswith("_time_s")} for r in history]


class Killed(BaseException):
    """Stands in for SIGKILL at a chosen moment."""


# ---------------------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def two_epoch_cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert cli("train", "--out", out, "--epochs", 2, *small_cli_options()) == 0
    return out


@pytest.mark.parametrize("option", [
    ["--preset", "mnist-multispike"], ["--preset", "yinyang-ttfs"], ["--hidden", "30"],
    ["--loss", "ttfs"], ["--lr", "0.5"], ["--dataset", "mnist"], ["--seed", "2"],
    ["--max-spikes", "5,5"], ["--data-dir", "/work/elsewhere"], ["--val-size", "100"],
    ["--lr-schedule", "constant"], ["--batch-size", "7"], ["--tau-mem", "1.119"]],
    ids=lambda o: o[0] + "=" + o[1])
def test_resume_refuses_a_conflicting_option(two_epoch_cli_run, capsys, option):
    before = {p.name: p.read_bytes() for p in two_epoch_cli_run.iterdir()}
    assert cli("train", "--out", two_epoch_cli_run, "--resume", *option) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "contradict" in err and option[0].lstrip("-").replace("-", "_").split("_")[0] in err
    after = {p.name: p.read_bytes() for p in two_epoch_cli_run.iterdir()}
    assert after == before  # nothing was touched


def test_resume_refuses_fewer_epochs_than_finished(two_epoch_cli_run, capsys):
    assert cli("train", "--out", two_epoch_cli_run, "--resume", "--epochs", 1) == 2
    assert "fewer than the 2 epochs" in capsys.readouterr().err


def test_resume_with_matching_options_is_accepted(two_epoch_cli_run, capsys):
    # restating the stored settings is no conflict (the run is finished: nothing to do)
    assert cli("train", "--out", two_epoch_cli_run, "--resume", "--preset", "yinyang-multispike",
               "--lr", get_preset("yinyang-multispike").lr, "--hidden", "40", "--no-progress") == 0
    assert "final test accuracy" in capsys.readouterr().out


def test_resume_needs_no_preset_and_keeps_the_stored_schedule(tmp_path):
    # a 2-epoch cosine run of a preset whose default is 80 epochs: --resume alone keeps both
    out = tmp_path / "r"
    assert cli("train", "--preset", "yinyang-ttfs", "--out", out, "--epochs", 2,
               *small_cli_options()) == 0
    before = load_checkpoint(out / "last.pt")
    assert cli("train", "--out", out, "--resume", "--no-progress") == 0
    after = load_checkpoint(out / "last.pt")
    assert after["epoch"] == 2 and after["config"] == before["config"]
    assert after["config"]["epochs"] == 2 and after["config"]["name"] == "yinyang-ttfs"
    assert json.loads((out / "config.json").read_text()) == before["config"]


def test_extending_epochs_says_what_happens_to_the_schedule(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli("train", "--out", out, "--epochs", 1, *small_cli_options()) == 0
    assert cli("train", "--out", out, "--resume", "--epochs", 2, "--no-progress") == 0
    text = capsys.readouterr().out
    assert "cosine schedule now spans 2 epochs instead of 1" in text
    last = load_checkpoint(out / "last.pt")
    assert last["config"]["epochs"] == 2 and last["epoch"] == 2
    assert last["schedule_changes"] == [{"after_epoch": 1, "epochs_before": 1, "epochs_after": 2}]
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    lr = get_preset("yinyang-multispike").lr
    assert [r["lr"] for r in last["history"]] == [lr, pytest.approx(lr / 2)]


def interrupt_in_the_first_batch(monkeypatch):
    """Ctrl-C as training starts: SIGINT arrives during the first loss computed (the
    compilation step's, before the first batch)."""
    compute_loss = train_module.compute_loss
    sent = []

    def loss_then_sigint(*args, **kwargs):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return compute_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "compute_loss", loss_then_sigint)


def test_interrupted_before_the_first_epoch_resumes_that_run(tmp_path, monkeypatch, capsys):
    """--resume restarts the stored run (its preset, settings and epochs), never a default one,
    and the interrupt message names only files that exist."""
    out = tmp_path / "r"
    interrupt_in_the_first_batch(monkeypatch)
    assert cli("train", "--out", out, "--preset", "yinyang-ttfs", "--epochs", 2, *small_cli_options()) == 130
    err = capsys.readouterr().err
    assert "no epoch had finished, so there is no checkpoint" in err
    assert f"multispike train --out {out} --resume` restarts this run from epoch 1" in err
    assert "last.pt" not in err and not (out / "last.pt").exists()
    assert str(out / "config.json") in err and (out / "config.json").exists()
    stored = (out / "config.json").read_text()
    monkeypatch.undo()

    assert cli("train", "--out", out, "--resume") == 0
    captured = capsys.readouterr()
    assert "training yinyang-ttfs" in captured.out and "for 2 epochs" in captured.out
    assert "restarting it from epoch 1" in captured.out
    assert (out / "config.json").read_text() == stored
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    # and it is the run an uninterrupted start gives
    assert cli("train", "--out", tmp_path / "full", "--preset", "yinyang-ttfs", "--epochs", 2,
               *small_cli_options()) == 0
    a, b = load_checkpoint(out / "last.pt"), load_checkpoint(tmp_path / "full" / "last.pt")
    assert without_times(a["history"]) == without_times(b["history"])


def test_killed_in_the_first_epoch_resume_refuses_a_contradiction(tmp_path, capsys):
    """kill -9 in the first epoch leaves config.json alone; --resume checks against it."""
    out = tmp_path / "r"
    assert cli("train", "--out", out, "--preset", "yinyang-ttfs", "--epochs", 1, *small_cli_options()) == 0
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        (out / name).unlink()
    stored = (out / "config.json").read_text()
    assert cli("train", "--out", out, "--resume", "--preset", "yinyang-multispike") == 2
    err = capsys.readouterr().err
    assert "preset 'yinyang-multispike' (the run is 'yinyang-ttfs')" in err
    assert (out / "config.json").read_text() == stored


def test_resume_of_an_empty_folder_is_refused(tmp_path, capsys):
    """--resume of a folder without a run must not fall back to the default preset."""
    assert cli("train", "--out", tmp_path / "nothing", "--resume") == 2
    err = capsys.readouterr().err
    assert "holds no run to continue" in err and "without --resume" in err
    assert not (tmp_path / "nothing").exists()


def test_interrupt_message_after_a_finished_epoch():
    message = str(train_module.TrainingInterrupted("R", 3))
    assert message == "R/last.pt holds epoch 3; `multispike train --out R --resume` continues with epoch 4"


def test_resume_of_a_damaged_config_json_names_it(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text("{not json")
    assert cli("train", "--out", out, "--resume") == 2
    err = capsys.readouterr().err
    assert str(out / "config.json") in err and "cannot be read as a run's settings" in err


def test_train_api_resume_refuses_a_different_config(tmp_path):
    train(small(epochs=1), tmp_path, progress=False, log=quiet)
    stored = re.escape(f"lr 0.5 (the run has {get_preset('yinyang-multispike').lr})")
    with pytest.raises(ValueError, match=stored):
        train(small(epochs=1, lr=0.5), tmp_path, resume=True, progress=False, log=quiet)
    result = train(None, tmp_path, resume=True, progress=False, log=quiet)  # the stored config
    assert result["epochs"] == 1


# ---------------------------------------------------------------------------- safe loading


class CreatesAFile:
    """Unpickling this object opens (creates) a file: code execution."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "payload-ran"
    crafted = tmp_path / "shared.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": CreatesAFile(marker)}, crafted)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError, match="code execution"):
        load_checkpoint(crafted)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's own warnings must not reach the user
        assert cli("evaluate", crafted) == 2
    err = capsys.readouterr().err
    assert "nothing in it was run" in err and str(crafted) in err
    assert re.search(r"\((io|builtins)\.open\)", err)  # the object that needs code is named
    assert "weights_only" not in err  # no advice to disable the safe load
    assert not marker.exists()
    # nor when a run folder holding it is resumed
    crafted.rename(tmp_path / "last.pt")
    with pytest.raises(UnsafeCheckpointError):
        train(None, tmp_path, resume=True, progress=False, log=quiet)
    assert not marker.exists()


def test_checkpoint_of_format_1_still_loads_and_resumes(tmp_path):
    # written by multispike before validation splits: it trained on every training sample
    net, config = load_trained(DATA / "checkpoint-format-1.pt")
    assert config.val_size == 0 and config.hidden == [20]
    data = load_data(config)
    stored = load_checkpoint(DATA / "checkpoint-format-1.pt")
    acc = evaluate(net, data.x_test, data.y_test, config.prediction_rule)["accuracy"]
    assert acc == stored["history"][-1]["test_accuracy"]
    run = tmp_path / "old"
    run.mkdir()
    (run / "last.pt").write_bytes((DATA / "checkpoint-format-1.pt").read_bytes())
    result = train(None, run, resume=True, progress=False, log=quiet)
    assert result["epochs"] == 2 and result["selected_epoch"] is None


def test_checkpoint_of_format_1_has_the_two_to_one_membrane(tmp_path):
    # written before tau_mem was a setting: its layers have tau_mem = 2 tau_s
    net, config = load_trained(DATA / "checkpoint-format-1.pt")
    assert config.tau_mem is None
    assert all(layer.tau_mem == 2 * config.tau_s for layer in net.layers)


def test_a_run_with_its_own_membrane_time_constant_loads_and_resumes(tmp_path, capsys):
    out = tmp_path / "r"
    tau_mem = 3 * get_preset("yinyang-multispike").tau_s
    assert cli("train", "--out", out, "--epochs", 1, "--tau-mem", tau_mem, *small_cli_options()) == 0
    net, config = load_trained(out / "last.pt")
    assert config.tau_mem == tau_mem and all(layer.tau_mem == tau_mem for layer in net.layers)
    data = load_data(config)
    acc = evaluate(net, data.x_test, data.y_test, config.prediction_rule)["accuracy"]
    assert acc == load_checkpoint(out / "last.pt")["history"][-1]["test_accuracy"]
    assert json.loads((out / "config.json").read_text())["tau_mem"] == tau_mem
    # resuming keeps it; restating it is no conflict, another value (2:1 here) is one
    assert cli("train", "--out", out, "--resume", "--tau-mem", 2 * tau_mem / 3) == 2
    assert "contradict it: tau_mem" in capsys.readouterr().err
    assert cli("train", "--out", out, "--resume", "--epochs", 2, "--tau-mem", tau_mem,
               "--no-progress") == 0
    last = load_checkpoint(out / "last.pt")
    assert last["epoch"] == 2 and last["config"]["tau_mem"] == tau_mem
    net, _ = load_trained(out / "last.pt")
    assert all(layer.tau_mem == tau_mem for layer in net.layers)


# ---------------------------------------------------------------------------- best.pt


def count_writes_then_kill(monkeypatch, kill_before):
    """Patch the run folder's writes: the write number ``kill_before`` (0-based) raises
    Killed before touching the disk, as a SIGKILL between two writes would."""
    calls = {"n": 0}
    real = checkpoint_module.write_atomic

    def write(path, data):
        if calls["n"] == kill_before:
            calls["n"] += 1
            raise Killed
        calls["n"] += 1
        real(path, data)

    monkeypatch.setattr(checkpoint_module, "write_atomic", write)
    monkeypatch.setattr(train_module, "write_atomic", write)
    return calls


@pytest.fixture(scope="module")
def uninterrupted_three_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, train(small(epochs=3), out, progress=False, log=quiet)


def test_kill_between_any_two_writes_keeps_best_consistent(tmp_path, monkeypatch,
                                                           uninterrupted_three_epochs):
    full_out, full = uninterrupted_three_epochs
    # the selection changes within the run, so some kills land between last.pt and best.pt
    assert full["selected_epoch"] is not None
    counter = count_writes_then_kill(monkeypatch, kill_before=10 ** 6)
    train(small(epochs=3), tmp_path / "count", progress=False, log=quiet)
    n_writes = counter["n"]
    assert n_writes >= 3 * 2 + 1  # config.json, then last.pt and metrics.jsonl per epoch
    repaired = 0
    for k in range(n_writes):
        out = tmp_path / f"kill{k}"
        count_writes_then_kill(monkeypatch, kill_before=k)
        with pytest.raises(Killed):
            train(small(epochs=3), out, progress=False, log=quiet)
        monkeypatch.setattr(checkpoint_module, "write_atomic", write_atomic)
        monkeypatch.setattr(train_module, "write_atomic", write_atomic)
        logs = []
        result = train(small(epochs=3), out, resume=True, progress=False, log=logs.append)
        repaired += any("copied it over" in line for line in logs)
        best = load_checkpoint(out / "best.pt")
        assert best["epoch"] == result["selected_epoch"] == full["selected_epoch"], k
        assert best["history"][-1]["val_accuracy"] == result["selected_val_accuracy"], k
        net, config = load_trained(out / "best.pt")
        data = load_data(config)
        assert evaluate(net, data.x_val, data.y_val, config.prediction_rule)["accuracy"] \
            == result["selected_val_accuracy"], k
        assert without_times(result["history"]) == without_times(full["history"]), k
        assert list(out.glob("*.tmp")) == [], k
    assert repaired >= 1  # some kill fell between last.pt and the best.pt it selects


def test_stale_temporary_files_are_removed(tmp_path):
    train(small(epochs=1), tmp_path, progress=False, log=quiet)
    stale = tmp_path / "last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    logs = []
    train(small(epochs=2), tmp_path, resume=True, progress=False, log=logs.append)
    assert not stale.exists()
    assert any("removed" in line and "last.pt.abc123.tmp" in line for line in logs)


# ---------------------------------------------------------------------------- output errors


def test_disk_full_during_a_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous checkpoint")

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.os, "fsync", full)
    with pytest.raises(CheckpointWriteError, match=f"could not write {target}: No space left"):
        write_atomic(target, b"new checkpoint")
    assert target.read_bytes() == b"previous checkpoint"
    assert list(tmp_path.glob("*.tmp")) == []


def test_disk_full_in_training_is_one_line(tmp_path, monkeypatch, capsys):
    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.os, "fsync", full)
    assert cli("train", "--out", tmp_path / "r", "--epochs", 1, *small_cli_options()) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(tmp_path) in err


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch, capsys):
    usage = checkpoint_module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage",
                        lambda _p: usage._replace(free=1000))
    assert cli("train", "--out", tmp_path / "r", "--epochs", 1, *small_cli_options()) == 1
    err = capsys.readouterr().err
    assert "not enough free space" in err and str(tmp_path / "r") in err
    assert not (tmp_path / "r" / "last.pt").exists()


def test_unwritable_out_is_one_line_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli("train", "--out", blocker / "run", "--epochs", 1, *small_cli_options()) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"cannot write into the run folder {blocker / 'run'}" in err


def test_permission_error_on_out_names_the_folder(tmp_path, monkeypatch, capsys):
    # tests may run as root, whom file modes do not stop: the refusal is simulated
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", denied)
    assert cli("train", "--out", tmp_path / "ro", "--epochs", 1, *small_cli_options()) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"multispike train: error: cannot write into the run folder {tmp_path / 'ro'}: "
                   f"Permission denied")


# ---------------------------------------------------------------------------- Ctrl-C


def run_cli(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-u", "-m", "multispike.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **kwargs)


def test_sigint_stops_cleanly_and_the_run_resumes(tmp_path):
    env = {**os.environ, "NUMBA_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(multispike.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    args = ["train", "--epochs", 40, *small_cli_options()]
    out = tmp_path / "interrupted"
    proc = run_cli([*args, "--out", out], env)
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("epoch 2/"):
            break
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "interrupted" in lines[0] and f"multispike train --out {out} --resume" in lines[0]
    last = load_checkpoint(out / "last.pt")
    assert 2 <= last["epoch"] < 40
    assert list(out.glob("*.tmp")) == []
    # resumable, and the result equals an uninterrupted run
    resumed = run_cli(["train", "--out", out, "--resume", "--no-progress"], env)
    full = run_cli([*args, "--out", tmp_path / "full"], env)
    for proc in (resumed, full):
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    a, b = load_checkpoint(out / "last.pt"), load_checkpoint(tmp_path / "full" / "last.pt")
    assert without_times(a["history"]) == without_times(b["history"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


# ---------------------------------------------------------------------------- options


def test_train_size_larger_than_the_data_is_an_error(tmp_path, capsys):
    assert cli("train", "--out", tmp_path / "r", "--train-size", 99999, "--no-progress") == 2
    assert "train_size = 99999 is larger than the 5000 samples" in capsys.readouterr().err


def test_val_size_larger_than_the_split_is_an_error():
    with pytest.raises(ValueError, match="val_size = 5000 is larger than the 1000 samples"):
        load_data(small(val_size=5000))


@pytest.mark.parametrize("argv, expected", [
    (["--hidden", ""], "argument --hidden: expected comma-separated values, got an empty value"),
    (["--lr", "abc"], "argument --lr: expected a number, got 'abc'"),
    (["--epochs", "2.5"], "argument --epochs: expected an integer, got '2.5'"),
    (["--thresholds", ","], "argument --thresholds: expected comma-separated values"),
])
def test_bad_option_values_are_named(argv, expected, capsys):
    with pytest.raises(SystemExit) as info:
        cli("train", *argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "_float" not in err


def test_no_hidden_layer_is_written_none(tmp_path, capsys):
    assert cli("train", "--hidden", "none", "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "thresholds has 2 values" in err and "hidden = [] gives 1 layer(s)" in err
    assert cli("train", "--hidden", "none", "--thresholds", 1, "--max-spikes", 10,
               "--init", "uniform:-1:1", "--epochs", 1, "--out", tmp_path / "r",
               *small_cli_options()[:-3], "--no-progress") == 0


def test_evaluate_a_run_folder_and_from_another_working_folder(tmp_path, monkeypatch, capsys):
    data = Path(os.environ.get("MULTISPIKE_TEST_DATA", Path(__file__).parents[2] / "shared" / "datasets"))
    if not (data / "yin_yang" / "train_samples.npy").is_file():
        pytest.skip("Yin-Yang publication data not found")
    monkeypatch.chdir(data.parent)
    relative = os.path.relpath(data / "yin_yang")
    out = tmp_path / "r"
    assert cli("train", "--out", out, "--epochs", 1, "--data-dir", relative,
               *small_cli_options()) == 0
    stored = load_checkpoint(out / "best.pt")["config"]["data_dir"]
    assert Path(stored).is_absolute() and Path(stored) == (data / "yin_yang").resolve()
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert cli("evaluate", out, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(out / "best.pt")
    assert result["accuracy"] == load_checkpoint(out / "best.pt")["history"][-1]["test_accuracy"]
    assert cli("evaluate", out, "--split", "validation", "--json") == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == \
        load_checkpoint(out / "best.pt")["history"][-1]["val_accuracy"]


def test_evaluate_an_empty_folder(tmp_path, capsys):
    assert cli("evaluate", tmp_path) == 2
    assert "without best.pt or last.pt" in capsys.readouterr().err


def test_download_offers_force(monkeypatch, tmp_path):
    import multispike.data as data_module

    calls = []
    monkeypatch.setattr(data_module, "download_dataset",
                        lambda name, root=None, force=False, log=None: calls.append(force) or tmp_path)
    assert cli("download", "mnist", "--force") == 0
    assert cli("download", "mnist") == 0
    assert calls == [True, False]


def test_checksum_error_names_the_cli_force_option(tmp_path):
    from multispike.data.errors import DatasetError
    from multispike.data.registry import DataFile

    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"not mnist")
    with pytest.raises(DatasetError, match="`multispike download mnist --force`"):
        DataFile("train-images-idx3-ubyte.gz", content_md5="0" * 32).check(path, "mnist", b"not mnist")


def test_layer_refuses_half_precision():
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        multispike.LIF(3, 2, dtype=torch.float16)
    with pytest.raises(TypeError, match="float32 or float64, not torch.float16"):
        multispike.LIF(3, 2).half()


@pytest.mark.parametrize("init, message", [
    (("uniform", 1, 0), "needs low < high"), (("normal", 0, -1), "needs std >= 0"),
    (("gauss", 0, 1), "must be"), (("uniform", 0, float("nan")), "finite")])
def test_layer_refuses_bad_init(init, message):
    with pytest.raises(ValueError, match=message):
        multispike.LIF(3, 2, init=init)


def test_cuda_request_says_the_kernels_run_on_the_cpu():
    layer = multispike.LIF(3, 2)
    net = multispike.SpikingNetwork([3, 4, 2], tau_s=0.1, thresholds=1.0)
    for move in (layer.cuda, lambda: layer.to("cuda"), net.cuda, lambda: net.to("cuda:0")):
        with pytest.raises(ValueError, match="run on the CPU only"):
            move()
    assert layer.weight.device.type == "cpu"
    assert layer.double().weight.dtype == torch.float64  # what the kernels run stays allowed


# ---------------------------------------------------------------------------- absurd settings


@pytest.mark.parametrize("option, value", [
    ("--lr", "inf"), ("--lr", "nan"), ("--tau-s", "inf"), ("--thresholds", "1,nan"),
    ("--target-true", "inf"), ("--tau-loss", "nan"), ("--t-window", "inf"), ("--lr-min", "nan"),
    ("--resets", "inf,1"), ("--lr-gamma", "nan"), ("--t-early", "-inf"), ("--bias-time", "inf"),
])
def test_non_finite_settings_are_refused_by_name(tmp_path, capsys, option, value):
    out = tmp_path / "r"
    assert cli("train", "--out", out, f"{option}={value}", *small_cli_options()) == 2
    err = capsys.readouterr().err
    field = option[2:].replace("-", "_")
    assert f"error: {field} must be a finite number" in err
    assert not out.exists()


def test_t_max_may_be_infinite_but_not_nan():
    assert small(t_max=float("inf")).t_max == float("inf")
    with pytest.raises(ValueError, match="t_max must be a finite number"):
        small(t_max=float("nan"))


def test_an_absurd_learning_rate_is_refused(tmp_path, capsys):
    assert cli("train", "--out", tmp_path / "r", "--lr", "1e30", *small_cli_options()) == 2
    assert "lr must lie in (0, 1], got 1e+30" in capsys.readouterr().err


def test_a_step_that_makes_weights_non_finite_stops_the_run(tmp_path, monkeypatch, capsys):
    """One line naming the epoch, the batch and the likely cause; last.pt keeps the last good
    epoch."""
    out = tmp_path / "r"
    assert cli("train", "--out", out, "--epochs", 1, *small_cli_options()) == 0
    good = (out / "last.pt").read_bytes()
    step, calls = torch.optim.Adam.step, []

    def step_to_inf(self, *args, **kwargs):
        result = step(self, *args, **kwargs)
        calls.append(True)
        if len(calls) == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0][0, 0] = float("inf")
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", step_to_inf)
    capsys.readouterr()
    assert cli("train", "--out", out, "--resume", "--epochs", 2, "--no-progress") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "training diverged in epoch 2, batch 3" in err
    assert re.search(r"the likely cause is the learning rate \(lr = 0\.0\d+\)", err)
    assert f"{out / 'last.pt'} still holds epoch 1" in err
    assert (out / "last.pt").read_bytes() == good


# ---------------------------------------------------------------------------- small things


def test_invalid_config_json_names_the_file(tmp_path, capsys):
    bad = tmp_path / "settings.json"
    bad.write_text('{"lr": 0.01,')
    assert cli("train", "--out", tmp_path / "r", "--config", bad) == 2
    err = capsys.readouterr().err
    assert f"{bad} is not valid JSON" in err


def test_a_failed_data_look_up_leaves_no_empty_run_folder(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli("train", "--out", out, "--preset", "mnist-multispike", "--data-dir", tmp_path / "none",
               "--no-progress") == 2
    assert "not found" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # a folder the user made is theirs: left in place
    assert cli("train", "--out", out, "--preset", "mnist-multispike", "--data-dir", tmp_path / "none",
               "--no-progress") == 2
    assert out.is_dir()


def test_one_epoch_is_singular(tmp_path, capsys):
    assert cli("train", "--out", tmp_path / "r", "--epochs", 1, *small_cli_options()) == 0
    out = capsys.readouterr().out
    assert "for 1 epoch into" in out and "(1 epoch," in out and "epochs" not in out


# ---------------------------------------------------------------------------- first use


def test_compilation_is_announced_while_it_happens(monkeypatch):
    """A kernel that starts compiling inside the block is announced before the block ends."""
    from multispike.kernels import compilation

    counts = iter([0, 0])  # before the block and at the first look: nothing compiled yet
    monkeypatch.setattr(compilation, "cache_misses", lambda: next(counts, 1))
    logs = []
    with compilation.report_compilation(lambda line: logs.append((time.perf_counter(), line))):
        time.sleep(0.6)
        block_end = time.perf_counter()
    assert logs[0][1].startswith("compiling the spike-time kernels for this machine")
    assert logs[0][0] < block_end  # said while it happened
    assert re.fullmatch(r"kernels ready after \d+ s", logs[1][1]) and len(logs) == 2


def test_training_announces_compilation_before_the_first_epoch(tmp_path, monkeypatch):
    from multispike.kernels import compilation

    counts = iter([0])  # every look after the first finds a compiled kernel
    monkeypatch.setattr(compilation, "cache_misses", lambda: next(counts, 1))
    logs = []
    train(small(epochs=1), tmp_path, progress=False, log=logs.append)
    assert "the spike-time kernels for this machine" in logs[0]
    assert logs[1].startswith("kernels ready after") and logs[2].startswith("epoch 1/1")


def test_no_compilation_no_message(tmp_path):
    logs = []
    train(small(epochs=1), tmp_path, progress=False, log=logs.append)  # kernels cached by now
    train(small(epochs=1), tmp_path / "again", progress=False, log=logs.append)
    assert not any("kernels" in line for line in logs[len(logs) // 2:])


@pytest.mark.parametrize("threads", ["1", "2"])
def test_nothing_is_compiled_or_loaded_after_the_warm_up_step(tmp_path, threads):
    """The warm-up step reaches every kernel signature that training and evaluation use, so
    no compilation can happen, unannounced, inside the first epoch or its evaluation."""
    script = f"""
import multispike.train as t
from multispike.kernels.compilation import _dispatchers
from multispike.presets import get_preset
signatures = lambda: sorted((d.py_func.__qualname__, str(s)) for d in _dispatchers() for s in d.signatures)
original, seen = t._compile_kernels, {{}}
def compile_then_look(*args):
    original(*args)
    seen["after"] = signatures()
t._compile_kernels = compile_then_look
config = get_preset("yinyang-multispike", epochs=1, train_size=300, val_size=200, test_size=200, hidden=[40])
t.train(config, {str(tmp_path / "r")!r}, progress=False, log=lambda *a: None)
assert signatures() == seen["after"], sorted(set(signatures()) - set(seen["after"]))
"""
    env = {**os.environ, "NUMBA_NUM_THREADS": threads,
           "PYTHONPATH": os.pathsep.join([str(Path(multispike.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_threads_below_one_are_refused_by_name(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli("train", "--out", tmp_path / "r", "--threads", value, *small_cli_options())
    assert exit_info.value.code == 2
    assert "argument --threads: expected an integer >= 1" in capsys.readouterr().err


def test_more_threads_than_numba_has_are_refused_by_name(tmp_path, capsys):
    import numba
    too_many = numba.config.NUMBA_NUM_THREADS + 1
    assert cli("train", "--out", tmp_path / "r", "--threads", too_many, *small_cli_options()) == 2
    assert f"--threads {too_many} is more than the" in capsys.readouterr().err


def test_a_missing_config_file_is_named(tmp_path, capsys):
    assert cli("train", "--out", tmp_path / "r", "--config", tmp_path / "absent.json") == 2
    assert f"the settings file {tmp_path / 'absent.json'} does not exist" in capsys.readouterr().err


def test_a_change_to_any_kernel_source_clears_the_kernel_cache(tmp_path):
    """numba keys a cached kernel on its own file; the kernels inline other files' functions,
    so a change to any of them must clear the cache."""
    from multispike.kernels.cache import clear_stale_cache

    (tmp_path / "forward.py").write_text("# a kernel\n")
    (tmp_path / "crossing.py").write_text("# a function it inlines\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "forward.lif-1.py311.nbi").write_bytes(b"index")
    (cache / "forward.lif-1.py311.1.nbc").write_bytes(b"code")
    assert clear_stale_cache(tmp_path)  # no stamp yet: whatever is there is of unknown age
    (cache / "forward.lif-1.py311.nbi").write_bytes(b"index")
    assert not clear_stale_cache(tmp_path)  # the sources are those the stamp names
    assert (cache / "forward.lif-1.py311.nbi").exists()
    (tmp_path / "crossing.py").write_text("# changed\n")
    assert clear_stale_cache(tmp_path)
    assert not list(cache.glob("*.nb?"))
