#!/bin/bash
# A/B: the Fashion study's multi-spike seed 2 (dead output neuron for class 3) with and without the silent-label term
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-fashion-study NUMBA_NUM_THREADS=1
for p in 0 1; do
  python -m multispike train --preset fashion-mnist-multispike --data-dir /work/shared/datasets/fashion-mnist --train-size 10000 --epochs 10 --lr-schedule cosine --seed 2 --silent-label-penalty $p --threads 1 --no-progress --out /work/runs/fashion-s2-penalty$p
done
