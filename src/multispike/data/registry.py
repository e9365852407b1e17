"""The data sets multispike knows: their classes, sample shapes and spike encodings, and for
the downloadable image data sets their file names, mirrors and checksums.

:data:`DATASETS` is the one list of data sets (the trainer, the presets and the command
line read it); :data:`IMAGE_DATASETS` holds the download descriptions of its image sets.
The registry is read-only. To use another source (a local server in tests, a private
mirror), build your own :class:`ImageDatasetSpec` (``dataclasses.replace`` on a registered
one is convenient) and pass it wherever a data set name is accepted.

Checksum sources
----------------
* MNIST: ``content_md5`` is the MD5 of the decompressed IDX files as published with the
  original distribution (yann.lecun.com); ``md5`` is the MD5 of the official ``.gz`` files
  as listed by torchvision (``torchvision/datasets/mnist.py``), which serves the same files
  from the ``ossci-datasets`` S3 mirror.
* Fashion-MNIST: ``md5`` of the ``.gz`` files from the table in the official README of
  github.com/zalandoresearch/fashion-mnist (also used by torchvision).
* EMNIST: MD5 of the NIST ``gzip.zip`` archive as used by torchvision's EMNIST class. No
  per-file checksums are published for the ``emnist-balanced-*`` members; they are checked
  structurally (IDX header, sample counts, label range) instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from .checksum import check_md5, md5_bytes, md5_file


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    ``name`` is the file name as downloaded and stored (usually ``*.gz``). ``md5`` is the
    checksum of the downloaded bytes, ``content_md5`` that of the decompressed content;
    either may be unknown (``None``).
    """

    name: str
    md5: str | None = None
    content_md5: str | None = None

    @property
    def accepted_names(self) -> tuple[str, ...]:
        """File names under which the file is accepted on disk: as downloaded, or unpacked."""
        if self.name.endswith(".gz"):
            return (self.name, self.name[: -len(".gz")])
        return (self.name,)

    def check(self, path, dataset: str, content: bytes | None = None) -> None:
        """Verify the file at ``path``, a file of the data set named ``dataset``, against the
        known checksums.

        The checksum of the decompressed ``content`` is preferred, because it does not
        depend on how the file was compressed. Otherwise the download checksum is checked,
        but only when the file on disk is still in its downloaded form (same name). Raises
        :class:`DatasetError` on a mismatch; does nothing when no checksum applies.
        """
        hint = (f"Download it again: `multispike download {dataset} --force` on the command "
                f"line, or download_dataset({dataset!r}, force=True) in Python")
        if self.content_md5 is not None and content is not None:
            check_md5(md5_bytes(content), self.content_md5, f"{path} (decompressed)", hint)
        elif self.md5 is not None and Path(path).name == self.name:
            check_md5(md5_file(path), self.md5, path, hint)


@dataclass(frozen=True)
class Archive:
    """A single archive (zip) holding the data files, matched by their base names."""

    name: str
    urls: tuple[str, ...]
    md5: str | None = None


@dataclass(frozen=True)
class ImageDatasetSpec:
    """Everything needed to download, find and check one image classification data set.

    Files come either from ``mirrors`` (base URLs tried in order; a file's URL is the base
    URL followed by its name) or from ``archive``. ``transposed`` marks data stored
    column-major (EMNIST), which the loader transposes to upright images.
    """

    name: str
    n_classes: int
    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile
    mirrors: tuple[str, ...] = ()
    archive: Archive | None = None
    n_train: int | None = None
    n_test: int | None = None
    image_shape: tuple[int, int] = (28, 28)
    transposed: bool = False
    homepage: str = ""

    @property
    def files(self) -> tuple[DataFile, DataFile, DataFile, DataFile]:
        """The four files: train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


MNIST = ImageDatasetSpec(
    name="mnist",
    n_classes=10,
    train_images=DataFile(
        "train-images-idx3-ubyte.gz",
        md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
        content_md5="6bbc9ace898e44ae57da46a324031adb",
    ),
    train_labels=DataFile(
        "train-labels-idx1-ubyte.gz",
        md5="d53e105ee54ea40749a09fcbcd1e9432",
        content_md5="a25bea736e30d166cdddb491f175f624",
    ),
    test_images=DataFile(
        "t10k-images-idx3-ubyte.gz",
        md5="9fb629c4189551a2d022fa330f9573f3",
        content_md5="2646ac647ad5339dbf082846283269ea",
    ),
    test_labels=DataFile(
        "t10k-labels-idx1-ubyte.gz",
        md5="ec29112dd5afa0611ce80d1b7f02629c",
        content_md5="27ae3e4e09519cfbb04c329615203637",
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    n_train=60000,
    n_test=10000,
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = ImageDatasetSpec(
    name="fashion-mnist",
    n_classes=10,
    train_images=DataFile("train-images-idx3-ubyte.gz", md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    train_labels=DataFile("train-labels-idx1-ubyte.gz", md5="25c81989df183df01b3e8a0aad5dffbe"),
    test_images=DataFile("t10k-images-idx3-ubyte.gz", md5="bef4ecab320f06d8554ea6380940ec79"),
    test_labels=DataFile("t10k-labels-idx1-ubyte.gz", md5="bb300cfdad3c16e7a12a480ee83cd310"),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    n_train=60000,
    n_test=10000,
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

EMNIST_BALANCED = ImageDatasetSpec(
    name="emnist-balanced",
    n_classes=47,
    train_images=DataFile("emnist-balanced-train-images-idx3-ubyte.gz"),
    train_labels=DataFile("emnist-balanced-train-labels-idx1-ubyte.gz"),
    test_images=DataFile("emnist-balanced-test-images-idx3-ubyte.gz"),
    test_labels=DataFile("emnist-balanced-test-labels-idx1-ubyte.gz"),
    archive=Archive(
        name="gzip.zip",
        urls=(
            "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
            "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip",
        ),
        md5="58c8d27c78d21e728a6bc7b3cc06412e",
    ),
    n_train=112800,
    n_test=18800,
    transposed=True,
    homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset",
)

#: Registered image data sets by name (read-only).
IMAGE_DATASETS: Mapping[str, ImageDatasetSpec] = MappingProxyType(
    {spec.name: spec for spec in (MNIST, FASHION_MNIST, EMNIST_BALANCED)}
)


#: Spike encodings of data sets (see :class:`DatasetInfo`).
ENCODINGS = ("image", "yinyang")


@dataclass(frozen=True)
class DatasetInfo:
    """A data set as the trainer sees it.

    ``n_classes`` output classes; ``sample_shape`` the shape of one raw sample
    ((channels, height, width) for images, (features,) otherwise); ``encoding`` how a sample
    becomes input spike times: "image" (one spike per pixel within ``t_window``,
    :func:`multispike.encoding.encode_images`) or "yinyang" (coordinates between ``t_early``
    and ``t_late`` plus an optional bias spike, :func:`multispike.encoding.encode_yinyang`).
    ``image`` is the download description of an image data set, None for the others.
    """

    name: str
    n_classes: int
    sample_shape: tuple[int, ...]
    encoding: str
    image: ImageDatasetSpec | None = None


def _image_info(spec: ImageDatasetSpec) -> DatasetInfo:
    return DatasetInfo(spec.name, spec.n_classes, (1, *spec.image_shape), "image", spec)


#: Every data set by name (read-only), in the order the command line lists them. Yin-Yang
#: samples are the 4-vectors (x, y, 1 - x, 1 - y) of :mod:`multispike.data.yinyang`, in
#: three classes (yin, yang, dot).
DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {info.name: info for info in (*map(_image_info, IMAGE_DATASETS.values()),
                                  DatasetInfo("yinyang", 3, (4,), "yinyang"))}
)


def get_dataset(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` registered under ``name``; ValueError listing the known names."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {name!r}") from None


def get_image_dataset_spec(name: str | ImageDatasetSpec) -> ImageDatasetSpec:
    """Return the spec registered under ``name`` (case and ``_``/``-`` insensitive).

    A spec passed in is returned unchanged. Raises ``ValueError`` listing the known names.
    """
    if isinstance(name, ImageDatasetSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a str or ImageDatasetSpec, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    try:
        return IMAGE_DATASETS[key]
    except KeyError:
        known = ", ".join(sorted(IMAGE_DATASETS))
        raise ValueError(f"unknown image data set {name!r}; known: {known}") from None
