"""Comparing the two regimes over seeds: an exact permutation test and the verdict it gives.

With n_a and n_b trained networks per regime, the test statistic is the difference of the
means, mean(b) - mean(a). Under the null hypothesis that the regime does not matter, every
split of the pooled n_a + n_b values into groups of n_a and n_b is equally likely; the
two-sided p-value is the share of those splits whose |difference| is at least the observed
one (all C(n_a + n_b, n_a) splits are enumerated, so the test is exact: 252 for 5 + 5 seeds,
smallest possible p 2/252 = 0.008). No normality is assumed, which matters for accuracies
near 100 % and for epoch counts.
"""
from __future__ import annotations

import itertools
import math

__all__ = ["permutation_test", "compare", "ALPHA", "SIMILAR_RATIO"]

#: Significance level of the verdicts.
ALPHA = 0.05
#: Two regimes are "similar" in a measure when the ratio of their means is within this factor.
SIMILAR_RATIO = 1.25
#: Above this many splits the test samples them instead of enumerating (seeded, reproducible).
_MAX_EXACT = 200_000


def permutation_test(a, b) -> float:
    """Two-sided p-value of mean(b) - mean(a) under label permutation (see module docstring)."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if not a or not b:
        raise ValueError(f"both groups need values, got {len(a)} and {len(b)}")
    pooled, n_a = a + b, len(a)
    total = sum(pooled)
    observed = abs(sum(b) / len(b) - sum(a) / n_a)
    tolerance = 1e-12 * max(1.0, abs(observed))
    if math.comb(len(pooled), n_a) <= _MAX_EXACT:
        splits = itertools.combinations(range(len(pooled)), n_a)
    else:
        import random
        rng = random.Random(0)
        splits = (rng.sample(range(len(pooled)), n_a) for _ in range(_MAX_EXACT))
    hits = count = 0
    for idx in splits:
        s_a = sum(pooled[i] for i in idx)
        diff = abs((total - s_a) / len(b) - s_a / n_a)
        hits += diff >= observed - tolerance
        count += 1
    return hits / count


def compare(ttfs, multispike, higher_is_better: bool, claim: str = "better",
            tolerance: float = SIMILAR_RATIO) -> dict:
    """Verdict on a claim about multi-spike against TTFS from per-network values.

    ``claim="better"``: the paper says multi-spike is better (higher values if
    ``higher_is_better``): "holds" when the difference is significant in that direction,
    "reversed" when significant in the other, else "not significant".
    ``claim="similar"``: the paper says the two are comparable, read as: the ratio of the
    means (multi-spike / TTFS) lies within [1 / tolerance, tolerance]. Then "holds"; outside
    that band "does not hold" when the difference is significant, else "not significant"
    (too few networks to tell). A test that finds no difference is no evidence of similarity
    by itself, hence the band.
    """
    ttfs = [float(v) for v in ttfs if v is not None and math.isfinite(float(v))]
    multispike = [float(v) for v in multispike if v is not None and math.isfinite(float(v))]
    if not ttfs or not multispike:
        return {"verdict": "not measured", "p": math.nan, "n": (len(ttfs), len(multispike))}
    p = permutation_test(ttfs, multispike)
    mean_t, mean_m = sum(ttfs) / len(ttfs), sum(multispike) / len(multispike)
    diff = mean_m - mean_t
    ratio = mean_m / mean_t if mean_t else math.inf
    if claim == "similar" and 1 / tolerance <= ratio <= tolerance:
        verdict = "holds"
    elif p >= ALPHA:
        verdict = "not significant"
    elif claim == "similar":
        verdict = "does not hold"
    else:
        verdict = "holds" if (diff > 0) == higher_is_better else "reversed"
    return {"verdict": verdict, "p": p, "difference": diff, "ratio": ratio,
            "n": (len(ttfs), len(multispike))}
