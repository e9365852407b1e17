"""Loading a registered image data set (MNIST, Fashion-MNIST, EMNIST-balanced) from disk."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import DATA_ENV_VAR, default_data_dir, download_dataset
from .errors import DatasetError
from .idx import parse_idx, read_file_bytes
from .registry import DataFile, ImageDatasetSpec, get_image_dataset_spec


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A loaded image classification data set.

    Images are uint8 arrays of shape (N, 28, 28), upright; labels are int64 in
    ``[0, n_classes)``.
    """

    name: str
    n_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, n_classes={self.n_classes}, "
            f"train={self.x_train.shape}, test={self.x_test.shape})"
        )


def load_image_dataset(
    name: str | ImageDatasetSpec,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    verify: bool = True,
) -> ImageDataset:
    """Load the image data set ``name`` ("mnist", "fashion-mnist" or "emnist-balanced").

    ``data_dir`` may be the folder holding the four IDX files (``.gz`` or unpacked) or a
    parent holding a ``<name>/`` subfolder; without it, ``default_data_dir()/<name>`` is
    used. When the files are missing, they are downloaded if ``download`` is true;
    otherwise a :class:`DatasetError` lists every folder searched and how to provide the
    data. With ``verify``, checksums are checked where known (preferring the checksum of
    the decompressed content) and the sample counts must match the official ones. Label
    counts and label ranges are always checked. EMNIST images are transposed upright.
    """
    spec = get_image_dataset_spec(name)
    candidates = _candidate_folders(spec, data_dir)
    found = [_locate_files(spec, folder) for folder in candidates]
    paths = next((p for p in found if p is not None and all(p)), None)
    if paths is None:
        if not download:
            raise _missing_error(spec, candidates, found)
        folder = download_dataset(spec, root=data_dir)
        paths = _locate_files(spec, folder)
        if paths is None or not all(paths):
            raise DatasetError(f"{folder}: download finished but files are missing")

    arrays = [_load_file(path, data_file, verify, spec.name) for path, data_file in zip(paths, spec.files)]
    x_train, y_train = _check_split(spec, arrays[0], arrays[1], paths[0], paths[1])
    x_test, y_test = _check_split(spec, arrays[2], arrays[3], paths[2], paths[3])
    if verify:
        for split, images, expected, path in (
            ("train", x_train, spec.n_train, paths[0]),
            ("test", x_test, spec.n_test, paths[2]),
        ):
            if expected is not None and len(images) != expected:
                raise DatasetError(
                    f"{path}: {spec.name} {split} split has {len(images)} samples, "
                    f"expected {expected}"
                )
    return ImageDataset(
        name=spec.name,
        n_classes=spec.n_classes,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
    )


def _candidate_folders(spec: ImageDatasetSpec, data_dir) -> list[Path]:
    if data_dir is None:
        return [default_data_dir() / spec.name]
    root = Path(data_dir).expanduser()
    return [root, root / spec.name]


def _locate_files(spec: ImageDatasetSpec, folder: Path) -> list[Path | None] | None:
    """Paths of the four files in ``folder`` (None for a missing one); None if no folder."""
    if not folder.is_dir():
        return None
    located = []
    for data_file in spec.files:
        hits = [folder / n for n in data_file.accepted_names if (folder / n).is_file()]
        located.append(hits[0] if hits else None)
    return located


def _missing_error(spec: ImageDatasetSpec, candidates: list[Path], found) -> DatasetError:
    lines = []
    for folder, paths in zip(candidates, found):
        if paths is None:
            lines.append(f"  {folder}: folder does not exist")
        else:
            missing = [f.name for f, p in zip(spec.files, paths) if p is None]
            lines.append(f"  {folder}: missing {', '.join(missing)}")
    names = ", ".join(f.name for f in spec.files)
    return DatasetError(
        f"data set {spec.name!r} not found. Looked in:\n" + "\n".join(lines) + "\n"
        f"It needs the files {names} (gzip-compressed or unpacked). To provide them:\n"
        f"  - pass the folder holding them (or its parent) as data_dir / --data-dir,\n"
        f"  - or set {DATA_ENV_VAR} to a folder with a {spec.name}/ subfolder,\n"
        f"  - or download them: load_image_dataset({spec.name!r}, download=True) or "
        f"`multispike download {spec.name}`."
    )


def _load_file(path: Path, data_file: DataFile, verify: bool, dataset: str) -> np.ndarray:
    content = read_file_bytes(path)
    if verify:
        data_file.check(path, dataset, content)
    return parse_idx(content, source=path)


def _check_split(
    spec: ImageDatasetSpec, images: np.ndarray, labels: np.ndarray, image_path, label_path
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split and return (upright uint8 images, int64 labels)."""
    expected_shape = tuple(spec.image_shape)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != expected_shape:
        raise DatasetError(
            f"{image_path}: expected uint8 images of shape (N, {expected_shape[0]}, "
            f"{expected_shape[1]}), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(f"{label_path}: expected a 1-D uint8 label file, got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DatasetError(
            f"{label_path}: {len(labels)} labels but {image_path} holds {len(images)} images"
        )
    if len(labels) and int(labels.max()) >= spec.n_classes:
        raise DatasetError(
            f"{label_path}: label {int(labels.max())} out of range for {spec.n_classes} classes"
        )
    if spec.transposed:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    return images, labels.astype(np.int64)
