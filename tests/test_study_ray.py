"""The study on a local Ray instance: the same result files as the serial executor, and an
interrupted run resumes by skipping finished tasks."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multispike.cli import main
from multispike.study import EXPERIMENTS, StudyContext
from multispike.study.runner import SerialExecutor, run_tasks

ARGS = ["study", "accuracy", "--quick", "--set", "epochs=2", "--set", "train_size=300",
        "--set", "test_size=200", "--seeds", "3"]
N_TASKS = 6  # 2 regimes x 3 seeds


def _without_timings(value):
    """Result values with wall-clock figures removed (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if not (k.endswith("_s") or "_s_" in k or k == "_seconds")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _results(out: Path) -> dict:
    found = {}
    for path in sorted((out / "runs").glob("*/result.json")):
        value = json.loads(path.read_text())
        value["checkpoint"] = os.path.relpath(value["checkpoint"], out)
        found[path.parent.name] = _without_timings(value)
    return found


def test_executor_choice_is_checked(tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path), "--serial", "--executor", "ray"]) == 2
    assert "--serial contradicts" in capsys.readouterr().err
    assert main([*ARGS, "--out", str(tmp_path), "--address", "auto"]) == 2
    assert "--address needs --executor ray" in capsys.readouterr().err


class Interrupted(Exception):
    pass


class InterruptAfterFirst:
    """Wraps an executor; the run is interrupted once the first result has been written."""

    def __init__(self, executor):
        self.executor, self.workers = executor, executor.workers

    def as_completed(self, fn, items):
        for n, pair in enumerate(self.executor.as_completed(fn, items)):
            if n == 1:  # the first result file exists: run_tasks wrote it before asking again
                raise Interrupted
            yield pair


def _convergence_results(out: Path) -> dict:
    folder = out / "convergence" / "results"
    return {p.name: _without_timings(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))}


def test_ray_executor_equals_serial_and_resumes(tmp_path):
    """Ray tasks on a local two-CPU instance: results written here, equal to the serial
    executor's; an interrupted run resumes with the finished tasks skipped."""
    pytest.importorskip("ray")
    from multispike.study.ray_executor import RayExecutor

    def plan(out):
        return EXPERIMENTS["convergence"].plan(StudyContext(out=out, quick=True, params={"repeats": 3}))[0]

    serial_tasks, ray_tasks = plan(tmp_path / "serial"), plan(tmp_path / "ray")
    run_tasks(serial_tasks, SerialExecutor(threads=1))
    logs = []
    with RayExecutor(workers=2) as executor:
        assert executor.workers == 2
        with pytest.raises(Interrupted):
            run_tasks(ray_tasks, InterruptAfterFirst(executor))
        assert len(_convergence_results(tmp_path / "ray")) == 1
        run_tasks(ray_tasks, executor, log=logs.append)
    assert logs == [f"  {len(ray_tasks)} tasks, 1 already done, running {len(ray_tasks) - 1} on 2 worker(s)"]
    assert _convergence_results(tmp_path / "ray") == _convergence_results(tmp_path / "serial")
    assert len(_convergence_results(tmp_path / "serial")) == len(serial_tasks) == 6


def test_missing_ray_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main([*ARGS, "--out", str(tmp_path), "--executor", "ray"]) == 2
    assert 'pip install "multispike[distributed]"' in capsys.readouterr().err


@pytest.mark.slow
def test_killed_ray_study_resumes_with_serial_results(tmp_path, capsys):
    """The CLI in a subprocess, killed with SIGKILL, then run again (two Ray start-ups)."""
    pytest.importorskip("ray")
    serial, distributed = tmp_path / "serial", tmp_path / "ray"
    assert main([*ARGS, "--out", str(serial), "--serial"]) == 0
    expected = _results(serial)
    assert len(expected) == N_TASKS

    # a Ray run killed (with its whole process group) once its first result file exists
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "multispike.cli", *ARGS, "--out", str(distributed),
           "--executor", "ray", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(distributed.glob("runs/*/result.json")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no task finished within two minutes"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(distributed.glob("runs/*/result.json")))
    assert 1 <= done < N_TASKS

    capsys.readouterr()
    assert main([*ARGS, "--out", str(distributed), "--executor", "ray", "--workers", "2"]) == 0
    log = capsys.readouterr().out
    assert f"{N_TASKS} tasks, {done} already done, running {N_TASKS - done} on 2 worker(s)" in log
    assert _results(distributed) == expected
    for name in ("accuracy_summary.json",):
        a = json.loads((serial / "accuracy" / name).read_text())
        b = json.loads((distributed / "accuracy" / name).read_text())
        assert _without_timings(a) == _without_timings(b)
