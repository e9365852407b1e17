import math, sys
import multispike.study.budget as bud
if sys.argv[1] == "one":
    bud.targets_for = lambda k: (float(k), float(max(1, math.floor(2 * k / 15))))
from multispike.cli import main
if __name__ == "__main__":
    main(["study", "budget", "--data-dir", "/work/shared/datasets/yin_yang", "--out", f"/tmp/prof/budget-{sys.argv[1]}",
          "--slots", sys.argv[2], "--threshold-factors", "0.5", "--budget-seeds", "2", "--budget-epochs", "20", "--serial"])
