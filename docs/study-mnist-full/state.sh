#!/bin/bash
# Carry the full-scale MNIST study's run folders from one machine to the next (the run folders
# live outside the work tree, and a new machine starts without them).
#   state.sh save     copies OUT's finished runs (result, settings, metrics and last.pt without
#                     its optimizer state: all that the later stages read) and the unfinished
#                     runs (whole last.pt, so training resumes) into docs/study-mnist-full/state/
#   state.sh restore  copies them back into OUT; then run.sh continues where the study stood
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/work/runs/study-mnist-full}
case "${1:-}" in
save)
  rm -rf "$HERE/state" && mkdir -p "$HERE/state/runs"
  for run in "$OUT"/runs/*/; do
    name=$(basename "$run"); dest="$HERE/state/runs/$name"; mkdir -p "$dest"
    cp "$run"/config.json "$run"/metrics.jsonl "$dest"/ 2>/dev/null || true
    if [ -f "$run/result.json" ]; then
      cp "$run/result.json" "$dest/"
      python - "$run/last.pt" "$dest/last.pt" <<'PY'
import sys, torch
payload = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
payload.pop("optimizer", None)  # finished: the later stages read the model only
torch.save(payload, sys.argv[2])
PY
    elif [ -f "$run/last.pt" ]; then
      cp "$run/last.pt" "$dest/"
    fi
  done
  for f in "$OUT"/*.json "$OUT"/*.csv; do [ -f "$f" ] && cp "$f" "$HERE/state/"; done
  du -sh "$HERE/state" ;;
restore)
  mkdir -p "$OUT/runs"
  cp -rn "$HERE/state/runs/." "$OUT/runs/"
  for f in "$HERE"/state/*.json "$HERE"/state/*.csv; do [ -f "$f" ] && cp -n "$f" "$OUT/"; done
  echo "restored into $OUT" ;;
*) echo "usage: $0 save|restore" >&2; exit 2 ;;
esac
