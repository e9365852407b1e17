#!/bin/bash
# yinyang-multispike (publication data, the preset's 80 epochs cosine) with the silent-label term, seeds given as arguments
. /work/venv/bin/activate
export PYTHONPATH=/work/runs/src-yy-term NUMBA_NUM_THREADS=1
for s in "$@"; do
  python -m multispike train --preset yinyang-multispike --data-dir /work/shared/datasets/yin_yang --seed $s --silent-label-penalty 1 --threads 1 --no-progress --out /work/runs/yy-term/s$s
done
