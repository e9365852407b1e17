#!/bin/bash
# Validation sweep of the silent-label term's weight on yinyang-ttfs (publication split).
# Run from the repository root with PYTHONPATH=src; appends one JSON line per run.
out=docs/runs/loss/select_yinyang.jsonl
for penalty in 1.0 0.1 10.0 0.0; do
  for seed in 0 1 2; do
    python docs/runs/loss/select_on_validation.py yinyang-ttfs $seed silent_label_penalty=$penalty \
      --data-dir /work/shared/datasets/yin_yang >> $out
  done
done
