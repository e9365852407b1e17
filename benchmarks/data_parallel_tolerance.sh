#!/bin/bash
# Largest weight difference between 2-process data-parallel training (torchrun) and one
# process with the same global batch, for the network of tests/test_data_parallel.py (both
# regimes, 2 epochs = 18 Adam steps, uneven shards). Run from the repository root with the
# venv active and PYTHONPATH=src.
set -e
echo "commit $(git rev-parse --short HEAD); $(date -u)"
W=${WORK:-/tmp/data_parallel_tolerance}
rm -rf "$W"; mkdir -p "$W"; cd "$W"
for preset in yinyang-multispike yinyang-ttfs; do
  slots=$([ $preset = yinyang-ttfs ] && echo 1,1 || echo 5,10)
  A="train --preset $preset --hidden 40 --max-spikes $slots --train-size 205 --test-size 100 --batch-size 25 --epochs 2 --seed 0 --no-progress"
  torchrun --standalone --nproc-per-node 2 -m multispike $A --out $preset-two > /dev/null 2>&1
  python -m multispike $A --threads 1 --out $preset-one1 > /dev/null
  python -m multispike $A --threads 2 --out $preset-one2 > /dev/null
  python - $preset <<'PY'
import sys, torch
p = sys.argv[1]
two = torch.load(f"{p}-two/last.pt", weights_only=True)["model"]
for one in ("one1", "one2"):
    a = torch.load(f"{p}-{one}/last.pt", weights_only=True)["model"]
    for k in a:
        print(f"{p}: 1 process ({one[-1]} thread(s)) vs 2 processes, {k}: max |dw| = "
              f"{(a[k] - two[k]).abs().max().item():.3g} (max |w| {a[k].abs().max().item():.3g}), "
              f"bit-identical: {torch.equal(a[k], two[k])}")
PY
done
