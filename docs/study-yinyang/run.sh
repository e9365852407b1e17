#!/bin/bash
# Full-scale trade-off study on the Yin-Yang publication data: trained and analysed at commit
# 0795392; the noise and claims sections were summarised again (no retraining, finished tasks
# are skipped) at commit 9ae4199 with the mean-drop robustness measure.
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-study NUMBA_NUM_THREADS=1
O=/work/runs/study-yinyang
D="--data-dir /work/shared/datasets/yin_yang --out $O --workers 2"
for e in accuracy latency noise attack claims; do
  echo "== study $e $(date -u)"
  python -m multispike study $e $D || echo "study $e failed: $?"
done
echo "== done $(date -u)"
