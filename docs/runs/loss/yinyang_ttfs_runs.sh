#!/bin/bash
# yinyang-ttfs final runs: publication data (seeds 0-4) and generated data (seeds 0-4).
# Run from the repository root with PYTHONPATH=src; RUNS is the folder for the run folders.
RUNS=${RUNS:-runs}
for seed in 0 1 2 3 4; do
  for data in pub gen; do
    extra=""; [ $data = pub ] && extra="--data-dir /work/shared/datasets/yin_yang"
    name=yinyang-ttfs-$data-s$seed
    python -m multispike.cli train --preset yinyang-ttfs $extra --seed $seed --threads 1 \
      --no-progress --overwrite --out $RUNS/$name > docs/runs/loss/$name.log 2>&1
    cp $RUNS/$name/metrics.jsonl docs/runs/loss/$name.metrics.jsonl
  done
done
