#!/bin/bash
# The budget sweep on MNIST at the documented reduced scale of the MNIST study (the first
# 10 000 training images, 10 epochs cosine; code: /work/runs/src-budget), 1 seed.
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-budget NUMBA_NUM_THREADS=1
cd /work/runs
echo "=== start $(cat /work/runs/src-budget/COMMIT) ($(date -u))"
python -m multispike study budget --dataset mnist --data-dir /work/shared/datasets/mnist --out /work/runs/budget-mnist --workers ${WORKERS:-1} --budget-epochs 10 --budget-seeds ${SEEDS:-1} --set train_size=10000 --set lr_schedule=cosine
echo "=== done ($(date -u))"
