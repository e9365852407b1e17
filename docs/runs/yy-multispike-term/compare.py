import json, glob, statistics as st
def rows(pattern):
    out = []
    for s in range(5):
        f = glob.glob(pattern.format(s=s))
        if not f: continue
        h = [json.loads(l) for l in open(f[0])]
        best = max(h, key=lambda r: (r["val_accuracy"], -r["epoch"]))  # first epoch with the best val
        out.append((s, h[-1]["epoch"], h[-1]["val_accuracy"], h[-1]["test_accuracy"], best["epoch"], best["val_accuracy"], best["test_accuracy"], h[-1]["silent_fraction"][-1]))
    return out
for name, pat in [("study (no term, 0795392)", "/work/runs/study-yinyang/runs/yinyang-multispike-s{s}-*/metrics.jsonl"),
                  ("silent-label term 1", "/work/runs/yy-term/s{s}/metrics.jsonl")]:
    r = rows(pat)
    print(name)
    for x in r: print("  seed %d epochs %d final val %.4f test %.4f | selected epoch %d val %.4f test %.4f | output silent %.3f" % x)
    if len(r) > 1:
        for i, lab in [(2, "final val"), (3, "final test"), (5, "selected val"), (6, "selected test")]:
            v = [x[i] for x in r]; print(f"  {lab}: {100*st.mean(v):.2f} +- {100*st.stdev(v):.2f} %")
