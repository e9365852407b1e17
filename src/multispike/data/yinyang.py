"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2021): class rule, generator, loader.

Points (x, y) lie in the disk of radius ``r_big`` centred at (r_big, r_big), i.e. inside
the square [0, 2 r_big]^2. The two "eyes" are centred at (r_big/2, r_big) (left) and
(3 r_big/2, r_big) (right). With d_l, d_r the distances to the eye centres:

* class 2 ("dot"): ``d_l < r_small`` or ``d_r < r_small``;
* class 1 ("yang" in the published labels): ``r_small < d_l <= r_big/2`` (the round lobe
  around the left eye), or ``y > r_big`` and ``d_r > r_big/2`` (the upper half of the big
  disk outside the lobe around the right eye); also ``d_r == r_small`` exactly;
* class 0 ("yin"): every other point of the disk.

This is the rule of the reference implementation (github.com/lkriener/yin_yang_data_set,
``dataset.py``), and it reproduces the labels of the published train/validation/test
sets exactly. A sample is the 4-vector (x, y, 1 - x, 1 - y); the mirrored coordinates
make the mean input activity independent of the position.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .download import default_data_dir
from .errors import DatasetError

#: Class names in label order.
YINYANG_CLASS_NAMES = ("yin", "yang", "dot")

#: Split names of the published data set files ``<split>_samples.npy`` / ``<split>_labels.npy``.
YINYANG_SPLITS = ("train", "validation", "test")


def yinyang_class(x, y, r_small: float = 0.1, r_big: float = 0.5) -> np.ndarray:
    """Class label (0 yin, 1 yang, 2 dot) of each point; -1 outside the big disk.

    ``x`` and ``y`` are array-likes of equal shape (scalars allowed); the result is an
    int64 array of that shape. See the module docstring for the geometry.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_centre = np.hypot(x - r_big, y - r_big)

    in_left_lobe = (d_left > r_small) & (d_left <= 0.5 * r_big)
    in_upper_half = (y > r_big) & (d_right > 0.5 * r_big)
    yang = (d_right <= r_small) | in_left_lobe | in_upper_half
    dot = (d_left < r_small) | (d_right < r_small)

    labels = np.where(dot, 2, np.where(yang, 1, 0)).astype(np.int64)
    labels[d_centre > r_big] = -1
    return labels


def generate_yinyang(
    n: int, seed: int = 0, r_small: float = 0.1, r_big: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` Yin-Yang samples by class-balanced rejection sampling.

    As in the publication, each sample first gets a wanted class, then points are drawn
    uniformly in [0, 2 r_big]^2 and rejected until one falls inside the big disk with that
    class. Here the wanted classes are 0, 1, 2 repeated cyclically and shuffled, so the
    classes are balanced exactly (counts differ by at most one); within each class the
    points are uniform over its region. Deterministic for a given ``seed``.

    Returns ``(samples, labels)``: float64 (n, 4) rows (x, y, 1 - x, 1 - y) and int64 (n,)
    labels in {0 yin, 1 yang, 2 dot}.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not (0 < r_small < 0.5 * r_big):
        raise ValueError(f"need 0 < r_small < r_big / 2, got r_small={r_small}, r_big={r_big}")
    n = int(n)
    rng = np.random.default_rng(seed)
    wanted = rng.permutation(np.arange(n) % 3).astype(np.int64)
    points = np.empty((n, 2), dtype=np.float64)
    for cls in range(3):
        slots = np.flatnonzero(wanted == cls)
        filled = 0
        while filled < len(slots):
            need = len(slots) - filled
            # The dot class covers ~6% of the square; draw enough to finish in a few rounds.
            draws = rng.uniform(0.0, 2.0 * r_big, size=(20 * need + 64, 2))
            hits = draws[yinyang_class(draws[:, 0], draws[:, 1], r_small, r_big) == cls][:need]
            points[slots[filled : filled + len(hits)]] = hits
            filled += len(hits)
    x, y = points[:, 0], points[:, 1]
    samples = np.column_stack([x, y, 1.0 - x, 1.0 - y])
    return samples, wanted


def load_yinyang(
    data_dir: str | os.PathLike | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Load a published Yin-Yang split from ``<split>_samples.npy`` and ``<split>_labels.npy``.

    ``data_dir`` is the folder holding the files or a parent with a ``yin_yang/``
    subfolder (default: ``default_data_dir()/yin_yang``). ``split`` is "train",
    "validation" or "test". Returns float64 samples (n, 4) and int64 labels (n,); raises
    :class:`DatasetError` for missing or invalid files.
    """
    if split not in YINYANG_SPLITS:
        raise ValueError(f"split must be one of {YINYANG_SPLITS}, got {split!r}")
    if data_dir is None:
        candidates = [default_data_dir() / "yin_yang"]
    else:
        root = Path(data_dir).expanduser()
        candidates = [root, root / "yin_yang"]
    names = (f"{split}_samples.npy", f"{split}_labels.npy")
    folder = next((c for c in candidates if all((c / n).is_file() for n in names)), None)
    if folder is None:
        looked = "\n".join(f"  {c}" for c in candidates)
        raise DatasetError(
            f"Yin-Yang {split} split not found: need {names[0]} and {names[1]}. Looked in:\n"
            f"{looked}\nPass the folder holding them (or its parent) as data_dir, or "
            f"generate data with generate_yinyang()."
        )
    samples_path, labels_path = folder / names[0], folder / names[1]
    samples = _load_npy(samples_path)
    labels = _load_npy(labels_path)

    if samples.dtype.kind != "f" or samples.ndim != 2 or samples.shape[1] != 4:
        raise DatasetError(
            f"{samples_path}: expected a float array of shape (n, 4), got {samples.dtype} {samples.shape}"
        )
    if not np.all(np.isfinite(samples)):
        raise DatasetError(f"{samples_path}: samples contain NaN or infinite values")
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DatasetError(f"{labels_path}: expected a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(samples):
        raise DatasetError(
            f"{labels_path}: {len(labels)} labels but {samples_path} holds {len(samples)} samples"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 2):
        raise DatasetError(f"{labels_path}: labels must be 0, 1 or 2, found {labels.min()}..{labels.max()}")
    return samples.astype(np.float64), labels.astype(np.int64)


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read .npy file ({exc})") from exc
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{path}: expected a single .npy array, not an .npz archive")
    return array
