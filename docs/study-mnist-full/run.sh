#!/bin/bash
# The trade-off study on MNIST at the authors' full scale: all 55 000 training images (5000
# held out for validation), multi-spike 100 epochs at the constant lr 0.003, TTFS 30 epochs at
# lr 0.002, batch 50, 5 seeds per regime; convergence targets 97 / 98 / 98.5 % validation
# accuracy; latency and noise on the full test set, attacks on the first 2000 test images.
# Code: the commit in $SRC/COMMIT (a snapshot, so that work on the tree does not change a
# running study). Resumes: finished tasks are skipped, an unfinished training run continues
# from its last.pt.
. /work/venv/bin/activate
SRC=${SRC:-/work/runs/src-mnist-full}
export PYTHONPATH=$SRC NUMBA_NUM_THREADS=1
O=${OUT:-/work/runs/study-mnist-full}
D="--dataset mnist --data-dir /work/shared/datasets/mnist --out $O --workers ${WORKERS:-1} --set ttfs.epochs=30 --set multispike.epochs=100 --targets 0.97,0.98,0.985"
for e in accuracy latency noise claims; do
  echo "== study $e $(date -u)"
  python -m multispike study $e $D || echo "study $e failed: $?"
done
echo "== study attack $(date -u)"
python -m multispike study attack $D --test-size 2000 || echo "study attack failed: $?"
python -m multispike study claims $D || echo "study claims failed: $?"
echo "== done $(date -u)"
