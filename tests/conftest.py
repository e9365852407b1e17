"""Shared pytest fixtures.

Real data sets are looked up in ``$MULTISPIKE_TEST_DATA``, by default
``<repo root>/../shared/datasets`` (the folder holding ``mnist/`` and ``yin_yang/``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The folder with the real data sets (it may not exist: tests that need a data set
    skip through :func:`mnist_data_dir`)."""
    return Path(os.environ.get("MULTISPIKE_TEST_DATA", REPO_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def mnist_data_dir(shared_datasets) -> Path:
    """A ``data_dir`` for ``load_image_dataset("mnist", ...)``; skips without real MNIST."""
    if not (shared_datasets / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found in {shared_datasets / 'mnist'} "
                    "(set MULTISPIKE_TEST_DATA to the datasets folder)")
    return shared_datasets


@pytest.fixture
def one_thread():
    """Run a test on one numba and one torch thread (tiny problems run much faster so, as the
    study's workers do), restoring the counts afterwards."""
    import numba
    import torch
    saved = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(saved[0])
    torch.set_num_threads(saved[1])
