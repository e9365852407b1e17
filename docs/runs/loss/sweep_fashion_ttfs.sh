#!/bin/bash
# Validation check of the fashion-mnist-ttfs thresholds of the two layers fed by 400 neurons
# (3 epochs on the first 20000 training images, validated on the last 5000).
# Run from the repository root with PYTHONPATH=src; appends one JSON line per run.
out=docs/runs/loss/select_fashion_ttfs.jsonl
for th in 1.0 2.0; do
  python docs/runs/loss/select_on_validation.py fashion-mnist-ttfs 0 "thresholds=[0.7,$th,$th]" \
    epochs=3 train_size=20000 --data-dir /work/shared/datasets/fashion-mnist >> $out
done
