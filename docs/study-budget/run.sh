#!/bin/bash
# The budget sweep on the Yin-Yang publication data with the mean-potential branch of the
# silent-label term (code: /work/runs/src-budget, commit in its COMMIT file): 20 epochs, 2 seeds by default; the report here ran with SEEDS=3 (seeds 0-1 first, then seed 2 added; finished tasks are skipped).
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-budget NUMBA_NUM_THREADS=1
cd /work/runs
echo "=== start $(cat /work/runs/src-budget/COMMIT) ($(date -u))"
python -m multispike study budget --data-dir /work/shared/datasets/yin_yang --out /work/runs/budget-yy-mean --workers ${WORKERS:-1} --budget-epochs 20 --budget-seeds ${SEEDS:-2}
echo "=== done ($(date -u))"
