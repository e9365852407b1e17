#!/bin/bash
# Trade-off study on MNIST at a documented reduced scale (10 000 training images, 10 epochs
# cosine, both regimes alike), commit 9ae4199.
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-study NUMBA_NUM_THREADS=1
O=/work/runs/study-mnist
D="--dataset mnist --data-dir /work/shared/datasets/mnist --out $O --workers 2 --set train_size=10000 --set epochs=10 --set lr_schedule=cosine --test-size 2000"
for e in accuracy latency noise attack claims; do
  echo "== study $e $(date -u)"
  python -m multispike study $e $D || echo "study $e failed: $?"
done
echo "== done $(date -u)"
