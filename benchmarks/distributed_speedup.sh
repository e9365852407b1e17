#!/bin/bash
# Speed-up of 2-process data-parallel training against 1 process, and of the study on 2 Ray
# workers against the serial executor. Run from the repository root with the venv active and
# PYTHONPATH=src; MNIST in $DATA (default ../shared/datasets/mnist). Prints the figures.
set -e
DATA=${DATA:-../shared/datasets/mnist}
W=${WORK:-/tmp/distributed_speedup}
rm -rf "$W"; mkdir -p "$W"
echo "commit $(git rev-parse --short HEAD); $(nproc) cores; $(date -u)"; uptime
T="train --preset mnist-multispike --data-dir $DATA --train-size 30000 --val-size 1000 --test-size 1000 --epochs 1 --seed 0 --no-progress"
epoch_time() { python -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; print(f\"train_time_s {r['train_time_s']:.2f}  loss {r['loss']:.6f}  train_acc {r['train_accuracy']:.4f}  test_acc {r['test_accuracy']:.4f}\")" "$1/metrics.jsonl"; }
for rep in 1 2; do
  echo "== training, repeat $rep"
  /usr/bin/time -f "1 process, 2 threads: wall %e s" python -m multispike $T --threads 2 --out "$W/one2-$rep" > /dev/null; epoch_time "$W/one2-$rep"
  /usr/bin/time -f "1 process, 1 thread: wall %e s" python -m multispike $T --threads 1 --out "$W/one1-$rep" > /dev/null; epoch_time "$W/one1-$rep"
  /usr/bin/time -o "$W/wall" -f "torchrun 2 processes x 1 thread: wall %e s" torchrun --standalone --nproc-per-node 2 -m multispike $T --out "$W/two-$rep" > /dev/null 2>&1; cat "$W/wall"; epoch_time "$W/two-$rep"
done
python - "$W" <<'PY'
import sys, torch
w = sys.argv[1]
two = torch.load(f"{w}/two-1/last.pt", weights_only=True)["model"]
for one in ("one1-1", "one2-1"):
    a = torch.load(f"{w}/{one}/last.pt", weights_only=True)["model"]
    for k in a:
        print(f"after 600 Adam steps, {k}: max |w({one}) - w(2 processes)| = "
              f"{(a[k] - two[k]).abs().max().item():.3g} (max |w| {a[k].abs().max().item():.3g}); "
              f"bit-identical: {torch.equal(a[k], two[k])}")
PY
S="study accuracy --quick --seeds 4 ${STUDY_SET:-}"
for rep in 1 2; do
  echo "== $S, repeat $rep"
  python -m multispike $S --serial --out "$W/study-serial-$rep" | grep -E "tasks|done in"
  python -m multispike $S --executor ray --workers 2 --out "$W/study-ray-$rep" | grep -E "tasks|done in"
  python -m multispike $S --workers 2 --out "$W/study-local-$rep" | grep -E "tasks|done in"
done
python - "$W" <<'PY'
import json, sys, glob, os
w = sys.argv[1]
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if not (k.endswith("_s") or k in ("_seconds", "checkpoint"))}
    return [clean(x) for x in v] if isinstance(v, list) else v
for f in sorted(glob.glob(f"{w}/study-serial-1/runs/*/result.json")):
    g = f.replace("study-serial-1", "study-ray-1")
    print(os.path.basename(os.path.dirname(f)), "ray == serial:", clean(json.load(open(f))) == clean(json.load(open(g))))
PY
uptime
