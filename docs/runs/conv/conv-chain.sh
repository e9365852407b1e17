#!/bin/bash
# Stop fashion-mnist-conv after its 6th epoch (step schedule: the first 6 epochs of the
# 10-epoch run are a 6-epoch run), then train the TTFS counterparts for 2 epochs each.
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-conv NUMBA_NUM_THREADS=1
cd /work/runs
R=/work/runs/fashion-mnist-conv-e10-s0
while [ "$(wc -l < $R/metrics.jsonl)" -lt 6 ]; do sleep 15; done
sleep 30
pkill -f "out /work/runs/fashion-mnist-conv-e10-s0" && echo "stopped fashion-mnist-conv after epoch 6 ($(date -u))"
for P in mnist-conv-ttfs fashion-mnist-conv-ttfs; do
  D=$( [ $P = mnist-conv-ttfs ] && echo mnist || echo fashion-mnist )
  echo "=== $P ($(date -u))"
  python -m multispike train --preset $P --data-dir /work/shared/datasets/$D --epochs 2 --lr-halving-epochs 1 --seed 0 --threads 1 --no-progress --out /work/runs/$P-e2-s0 > /work/runs/$P-e2-s0.log 2>&1
done
echo "=== done ($(date -u))"
