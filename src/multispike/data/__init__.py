"""Data sets: IDX files, image data sets (MNIST, Fashion-MNIST, EMNIST-balanced), Yin-Yang.

Image data sets are found on disk (``data_dir``, ``$MULTISPIKE_DATA`` or
``~/.cache/multispike``) or downloaded with checksum verification. All data problems raise
:class:`DatasetError`, a ``ValueError`` whose message names the file involved.
"""
from .download import default_data_dir, download_dataset
from .errors import DatasetError
from .idx import read_idx, write_idx
from .images import ImageDataset, load_image_dataset
from .registry import (DATASETS, IMAGE_DATASETS, Archive, DatasetInfo, DataFile, ImageDatasetSpec,
                       get_dataset, get_image_dataset_spec)
from .yinyang import YINYANG_CLASS_NAMES, generate_yinyang, load_yinyang, yinyang_class

__all__ = [
    "DatasetError",
    "read_idx",
    "write_idx",
    "DATASETS",
    "DatasetInfo",
    "get_dataset",
    "IMAGE_DATASETS",
    "Archive",
    "DataFile",
    "ImageDatasetSpec",
    "get_image_dataset_spec",
    "default_data_dir",
    "download_dataset",
    "ImageDataset",
    "load_image_dataset",
    "YINYANG_CLASS_NAMES",
    "generate_yinyang",
    "yinyang_class",
    "load_yinyang",
]
