"""Tests of the ``multispike`` command line, run in-process through ``multispike.cli.main``."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re

import pytest

from multispike.cli import main
from multispike.config import HELP, TrainConfig
from multispike.presets import PRESETS

ACCURACY = re.compile(r"final test accuracy (\d\.\d{4})")


def exit_code(argv):
    """main's return value, or the code of the SystemExit argparse raises."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """`multispike train` with the default preset (Yin-Yang, generated data), 1 short epoch."""
    out = tmp_path_factory.mktemp("cli-run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "--epochs", "1", "--train-size", "300", "--test-size", "200",
                     "--out", str(out), "--no-progress", "--threads", "1"])
    return code, stdout.getvalue(), out


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    names = [line.split(":")[0] for line in out.splitlines()]
    assert names == list(PRESETS)
    assert "hidden" in out and "max_spikes" in out


def test_train_help_mentions_every_option(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # no line wrapping
    assert exit_code(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(TrainConfig):
        if f.name == "name":  # the label comes from the preset; no option
            continue
        option = "--" + f.name.replace("_", "-")
        assert re.search(rf"{option}\b", out), option
        assert HELP[f.name] in out, f.name
    for option in ("--preset", "--out", "--resume", "--overwrite", "--no-progress", "--threads"):
        assert option in out


def test_train_default_preset(trained_run):
    code, stdout, out = trained_run
    assert code == 0
    match = ACCURACY.search(stdout)
    assert match, stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert float(match.group(1)) == pytest.approx(records[0]["test_accuracy"], abs=5e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "yinyang-multispike"
    assert (config["epochs"], config["train_size"], config["test_size"]) == (1, 300, 200)
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()


def test_train_refuses_existing_run(trained_run, capsys):
    _, _, out = trained_run
    argv = ["train", "--epochs", "1", "--train-size", "300", "--test-size", "200", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err


@pytest.mark.parametrize("argv,expected", [
    (["--thresholds", "-1,1"], "--thresholds"),  # argparse takes -1,1 for an option
    (["--thresholds=-1,1"], "threshold"),
    (["--dataset", "foo"], "dataset"),
    (["--hidden", "abc"], "--hidden"),
    (["--preset", "nope"], "--preset"),
    (["--thresholds", "1,1,1"], "thresholds"),
    (["--epochs", "0"], "epochs"),
    (["--init", "gauss:0:1,uniform:0:1"], "init"),
])
def test_train_bad_option_value(tmp_path, capsys, argv, expected):
    code = exit_code(["train", "--epochs", "1", "--train-size", "50", "--test-size", "20",
                      "--out", str(tmp_path / "run"), "--no-progress", *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err and "error" in err, err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_evaluate_checkpoint(trained_run, capsys):
    _, _, out = trained_run
    recorded = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert main(["evaluate", str(out / "best.pt")]) == 0
    text = capsys.readouterr().out
    match = re.search(r"test accuracy (\d\.\d{4}) on 200 samples", text)
    assert match, text
    assert float(match.group(1)) == pytest.approx(recorded["test_accuracy"], abs=5e-5)

    assert main(["evaluate", str(out / "last.pt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == recorded["test_accuracy"]
    assert result["spikes_per_sample"] == pytest.approx(recorded["spikes_per_sample"], rel=1e-12)


def test_evaluate_missing_checkpoint(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    assert main(["evaluate", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "multispike evaluate: error" in err and str(missing) in err and "does not exist" in err


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty (0 bytes)"),
    (b"not a checkpoint", "looks like a text file"),
    (b'{"lr": 0.1}', "looks like a JSON text file"),
    (b"\x89HDF\r\n\x1a\n" + bytes(range(256)), "looks like an HDF5 file"),
    (bytes(range(256)) * 4, "looks like an unknown binary format"),
], ids=["empty", "text", "json", "hdf5", "binary"])
def test_evaluate_a_file_that_is_no_checkpoint(tmp_path, capsys, content, expected):
    """Another format is named as such: neither "corrupt" nor a hint at unsafe loading."""
    broken = tmp_path / "broken.pt"
    broken.write_bytes(content)
    assert main(["evaluate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and expected in err
    assert "corrupt" not in err and "code execution" not in err and "weights_only" not in err


def test_evaluate_a_truncated_checkpoint_says_corrupt(tmp_path, capsys):
    import io

    import torch
    buffer = io.BytesIO()
    torch.save({"format": "multispike-checkpoint-1", "w": torch.ones(1000)}, buffer)
    broken = tmp_path / "truncated.pt"
    broken.write_bytes(buffer.getvalue()[:2000])
    assert main(["evaluate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "corrupt or truncated (2000 bytes;" in err
    assert "code execution" not in err and "weights_only" not in err


def test_output_into_a_closed_pipe_is_not_an_error():
    """`multispike presets | head -1`: the reader leaving early must not print a traceback."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from multispike.cli import main; sys.exit(main())",
                             "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line is written
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
