"""Data-parallel training under torchrun: two processes with the same global batch train the
same weights as one process (up to float32 rounding), only rank 0 writes, --resume works."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from multispike.cli import main
from multispike import distributed

# batch 25 splits 13 / 12; 205 samples leave a last batch of 5 (3 / 2): uneven shards
SMALL = ["--hidden", "40", "--train-size", "205", "--test-size", "100", "--batch-size", "25", "--no-progress"]
ARGS = ["train", "--preset", "yinyang-ttfs", *SMALL]
ARGS_MULTISPIKE = ["train", "--preset", "yinyang-multispike", "--max-spikes", "5,10", *SMALL]
# float32 weights after 18 Adam steps: the two shards' gradient sums are added in another
# order than one process adds them, which may change the last bits
RTOL = ATOL = 1e-5


def _torchrun(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "multispike", *args]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _weights(run: Path) -> dict:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=False)["model"]


def _assert_same_training(a: Path, b: Path):
    wa, wb = _weights(a), _weights(b)
    for name in wa:
        assert torch.allclose(wa[name], wb[name], rtol=RTOL, atol=ATOL), name
        assert not torch.equal(wa[name], torch.zeros_like(wa[name]))
    ha = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    for ra, rb in zip(ha, hb, strict=True):
        assert ra["train_accuracy"] == rb["train_accuracy"]  # totals over both shards
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)
        assert ra["test_accuracy"] == rb["test_accuracy"]


def test_two_processes_train_like_one(tmp_path):
    out = _torchrun([*ARGS, "--epochs", "2", "--out", "two"], tmp_path)
    assert out.count("epoch 2/2") == 1  # one process logs
    assert main([*ARGS, "--epochs", "2", "--out", str(tmp_path / "one"), "--threads", "1"]) == 0
    _assert_same_training(tmp_path / "one", tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())


@pytest.mark.slow
def test_two_processes_resume(tmp_path):
    _torchrun([*ARGS_MULTISPIKE, "--epochs", "1", "--out", "two"], tmp_path)
    out = _torchrun([*ARGS_MULTISPIKE, "--epochs", "2", "--out", "two", "--resume"], tmp_path)
    assert "resuming" in out and out.count("epoch 2/2") == 1
    assert main([*ARGS_MULTISPIKE, "--epochs", "2", "--out", str(tmp_path / "one"), "--threads", "1"]) == 0
    _assert_same_training(tmp_path / "one", tmp_path / "two")


class _OtherRank(distributed.ProcessGroup):
    """Rank 1 of a group, training on whole batches (as if the others sent nothing)."""

    def __init__(self):
        self.active, self.rank, self.size = False, 1, 1


def test_only_rank_zero_writes(tmp_path, monkeypatch, capsys):
    import multispike.train

    monkeypatch.setattr(multispike.train, "current_group", _OtherRank)
    assert main([*ARGS, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert list(tmp_path.iterdir()) == []
    assert "epoch 1/1" not in capsys.readouterr().out


def test_shards_and_gradient_weights():
    batch = torch.arange(5)
    group = distributed.ProcessGroup()
    assert not group.active and group.writes_files and torch.equal(group.shard(batch), batch)
    group.active, group.size = True, 2
    group.rank = 0
    assert group.shard(batch).tolist() == [0, 1, 2]
    group.rank = 1
    assert group.shard(batch).tolist() == [3, 4]
    assert group.shard(batch[:1]).tolist() == []  # an empty shard: its gradient counts as zero
