"""Finiteness check of the weights as one vectorised numba pass (no boolean torch temporaries)."""
from numba import njit


@njit(cache=True)
def count_non_finite(values):
    """Number of NaN or infinite entries of a contiguous array."""
    flat = values.ravel()
    bad = 0
    for i in range(flat.shape[0]):
        w = flat[i]
        bad += (w - w) != 0  # w - w is 0 for finite w and NaN for inf and NaN
    return bad
