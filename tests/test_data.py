"""Tests of multispike.data: IDX files, image data sets, downloads, Yin-Yang."""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from multispike.data import (
    IMAGE_DATASETS,
    Archive,
    DataFile,
    DatasetError,
    ImageDatasetSpec,
    default_data_dir,
    download_dataset,
    generate_yinyang,
    get_image_dataset_spec,
    load_image_dataset,
    load_yinyang,
    read_idx,
    write_idx,
    yinyang_class,
)
from multispike.data.idx import idx_bytes

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MULTISPIKE_TEST_DATA", REPO_ROOT.parent / "shared" / "datasets"))
MNIST_DIR = SHARED_DATA / "mnist"
YINYANG_DIR = SHARED_DATA / "yin_yang"

needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"real MNIST not found in {MNIST_DIR} (set MULTISPIKE_TEST_DATA to the datasets folder)",
)
needs_yinyang = pytest.mark.skipif(
    not (YINYANG_DIR / "train_samples.npy").is_file(),
    reason=f"published Yin-Yang data not found in {YINYANG_DIR} (set MULTISPIKE_TEST_DATA)",
)

FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# ---------------------------------------------------------------------------- helpers


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_content(array: np.ndarray) -> bytes:
    """Uncompressed IDX bytes of ``array``."""
    return idx_bytes(array)


def fake_split(n: int, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % n_classes).astype(np.uint8)
    return images, labels


def fake_arrays(n_train: int = 12, n_test: int = 6) -> tuple[np.ndarray, ...]:
    x_train, y_train = fake_split(n_train, seed=1)
    x_test, y_test = fake_split(n_test, seed=2)
    return x_train, y_train, x_test, y_test


def fake_spec(**changes) -> ImageDatasetSpec:
    spec = ImageDatasetSpec(
        name="fake",
        n_classes=10,
        train_images=DataFile(FILE_NAMES[0]),
        train_labels=DataFile(FILE_NAMES[1]),
        test_images=DataFile(FILE_NAMES[2]),
        test_labels=DataFile(FILE_NAMES[3]),
    )
    return dataclasses.replace(spec, **changes)


def write_fake_dataset(folder: Path, arrays=None, gz: bool = True, names=FILE_NAMES) -> tuple[np.ndarray, ...]:
    arrays = fake_arrays() if arrays is None else arrays
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(names, arrays):
        write_idx(folder / (name if gz else name[: -len(".gz")]), array)
    return arrays


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 0, 7], dtype=np.int8),
        np.array([[-300, 2], [3, 32000]], dtype=np.int16),
        np.array([1, -2, 2**30], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.array([np.pi, -np.e], dtype=np.float64),
    ],
)
def test_idx_roundtrip(tmp_path, array, suffix):
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_idx_byte_layout(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    gz = write_idx(tmp_path / "labels-idx1-ubyte.gz", np.array([7, 2, 1], dtype=np.uint8))
    assert gzip.decompress(gz.read_bytes()) == path.read_bytes()


def test_idx_gzip_detected_by_content_without_suffix(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(idx_content(np.zeros((2, 2, 2), np.uint8))))
    assert read_idx(path).shape == (2, 2, 2)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.array(3, dtype=np.uint8))


def _assert_error(path: Path, *words: str) -> None:
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message.lower()


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_payload(tmp_path, suffix):
    data = idx_content(np.ones((4, 5, 5), np.uint8))[:-3]
    path = tmp_path / f"t.idx{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    _assert_error(path, "truncated")


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(idx_content(np.ones(4, np.uint8)) + b"\x00")
    _assert_error(path, "trailing")


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1]))
    _assert_error(path, "truncated")
    path.write_bytes(b"\x00\x00")
    _assert_error(path, "not an idx file")


def test_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "t.idx.gz"
    path.write_bytes(gzip.compress(idx_content(np.arange(1000, dtype=np.int32)))[:-20])
    _assert_error(path, "gzip")


def test_idx_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(idx_content(np.arange(5000, dtype=np.int32))))
    compressed[30:60] = bytes(30)
    path = tmp_path / "t.idx.gz"
    path.write_bytes(bytes(compressed))
    _assert_error(path, "gzip")


def test_idx_gz_name_without_gzip_data(tmp_path):
    path = tmp_path / "t.idx.gz"
    path.write_bytes(idx_content(np.ones(3, np.uint8)))
    _assert_error(path, "gzip")


def test_idx_bad_magic_and_type(tmp_path):
    data = bytearray(idx_content(np.ones(3, np.uint8)))
    path = tmp_path / "t.idx"
    path.write_bytes(b"\x01" + bytes(data[1:]))
    _assert_error(path, "magic")
    data[2] = 0x0A
    path.write_bytes(bytes(data))
    _assert_error(path, "type code")
    data[2], data[3] = 0x08, 0
    path.write_bytes(bytes(data))
    _assert_error(path, "zero dimensions")


def test_idx_missing_and_unreadable(tmp_path):
    _assert_error(tmp_path / "nope.idx", "not found")
    _assert_error(tmp_path, "cannot read")


# ---------------------------------------------------------------------------- registry


def test_registry_entries():
    assert set(IMAGE_DATASETS) == {"mnist", "fashion-mnist", "emnist-balanced"}
    assert [IMAGE_DATASETS[n].n_classes for n in ("mnist", "fashion-mnist", "emnist-balanced")] == [10, 10, 47]
    mnist = IMAGE_DATASETS["mnist"]
    assert [f.content_md5 for f in mnist.files] == [
        "6bbc9ace898e44ae57da46a324031adb",
        "a25bea736e30d166cdddb491f175f624",
        "2646ac647ad5339dbf082846283269ea",
        "27ae3e4e09519cfbb04c329615203637",
    ]
    for spec in IMAGE_DATASETS.values():
        assert spec.mirrors or spec.archive
        sums = [f.md5 for f in spec.files] + [f.content_md5 for f in spec.files]
        sums += [spec.archive.md5] if spec.archive else []
        for value in filter(None, sums):
            assert len(value) == 32 and int(value, 16) >= 0
    emnist = IMAGE_DATASETS["emnist-balanced"]
    assert emnist.transposed and emnist.archive.md5 == "58c8d27c78d21e728a6bc7b3cc06412e"
    assert all(f.name.startswith("emnist-balanced-") for f in emnist.files)


def test_get_spec_by_name():
    assert get_image_dataset_spec("Fashion_MNIST").name == "fashion-mnist"
    spec = fake_spec()
    assert get_image_dataset_spec(spec) is spec
    with pytest.raises(ValueError, match="emnist-balanced"):
        get_image_dataset_spec("cifar10")


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MULTISPIKE_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("MULTISPIKE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "multispike"


# ---------------------------------------------------------------------------- image loading


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_folder_or_parent(tmp_path, gz):
    x_train, y_train, x_test, y_test = write_fake_dataset(tmp_path / "fake", gz=gz)
    for data_dir in (tmp_path, tmp_path / "fake"):
        data = load_image_dataset(fake_spec(), data_dir=data_dir)
        np.testing.assert_array_equal(data.x_train, x_train)
        np.testing.assert_array_equal(data.x_test, x_test)
        assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
        np.testing.assert_array_equal(data.y_train, y_train)
        np.testing.assert_array_equal(data.y_test, y_test)
        assert data.n_classes == 10 and data.name == "fake"


def test_load_uses_env_data_dir(tmp_path, monkeypatch):
    write_fake_dataset(tmp_path / "fake")
    monkeypatch.setenv("MULTISPIKE_DATA", str(tmp_path))
    assert load_image_dataset(fake_spec()).x_train.shape == (12, 28, 28)


def test_missing_data_lists_folders_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTISPIKE_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        load_image_dataset("mnist", data_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message
    assert str(tmp_path / "nowhere" / "mnist") in message
    for remedy in ("--data-dir", "MULTISPIKE_DATA", "download=True", "multispike download mnist"):
        assert remedy in message
    with pytest.raises(DatasetError, match=str(tmp_path / "env" / "mnist")):
        load_image_dataset("mnist")


def test_partially_present_names_missing_files(tmp_path):
    write_fake_dataset(tmp_path / "fake")
    (tmp_path / "fake" / FILE_NAMES[3]).unlink()
    with pytest.raises(DatasetError, match=f"missing {FILE_NAMES[3]}"):
        load_image_dataset(fake_spec(), data_dir=tmp_path)


def test_label_image_count_mismatch(tmp_path):
    x_train, y_train, x_test, y_test = fake_arrays()
    write_fake_dataset(tmp_path, (x_train, y_train[:-1], x_test, y_test))
    with pytest.raises(DatasetError) as info:
        load_image_dataset(fake_spec(), data_dir=tmp_path)
    assert str(tmp_path / FILE_NAMES[1]) in str(info.value)
    assert "11 labels" in str(info.value)


def test_label_out_of_range(tmp_path):
    x_train, y_train, x_test, y_test = fake_arrays()
    y_test = y_test.copy()
    y_test[0] = 10
    write_fake_dataset(tmp_path, (x_train, y_train, x_test, y_test))
    with pytest.raises(DatasetError, match="out of range"):
        load_image_dataset(fake_spec(), data_dir=tmp_path)


def test_wrong_image_shape(tmp_path):
    x_train, y_train, x_test, y_test = fake_arrays()
    write_fake_dataset(tmp_path, (x_train[:, :10, :10].copy(), y_train, x_test, y_test))
    with pytest.raises(DatasetError, match=str(tmp_path / FILE_NAMES[0])):
        load_image_dataset(fake_spec(), data_dir=tmp_path)


def test_corrupt_file_reported_with_path(tmp_path):
    write_fake_dataset(tmp_path)
    path = tmp_path / FILE_NAMES[2]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match=str(path)):
        load_image_dataset(fake_spec(), data_dir=tmp_path)


def test_content_checksum_mismatch_detected(tmp_path):
    arrays = write_fake_dataset(tmp_path)
    good = [md5(idx_content(a)) for a in arrays]
    spec = fake_spec(test_labels=DataFile(FILE_NAMES[3], content_md5=good[3]))
    load_image_dataset(spec, data_dir=tmp_path)  # correct checksum passes
    bad = fake_spec(test_labels=DataFile(FILE_NAMES[3], content_md5="0" * 32))
    with pytest.raises(DatasetError, match="checksum mismatch") as info:
        load_image_dataset(bad, data_dir=tmp_path)
    assert str(tmp_path / FILE_NAMES[3]) in str(info.value)
    assert f"`multispike download {bad.name} --force`" in str(info.value)  # the hint names the set
    assert "<data set>" not in str(info.value)
    assert load_image_dataset(bad, data_dir=tmp_path, verify=False).y_test.shape == (6,)


def test_download_checksum_applies_only_to_downloaded_form(tmp_path):
    write_fake_dataset(tmp_path / "gz")
    write_fake_dataset(tmp_path / "raw", gz=False)
    gz_md5 = md5((tmp_path / "gz" / FILE_NAMES[0]).read_bytes())
    load_image_dataset(fake_spec(train_images=DataFile(FILE_NAMES[0], md5=gz_md5)), data_dir=tmp_path / "gz")
    bad = fake_spec(train_images=DataFile(FILE_NAMES[0], md5="f" * 32))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_image_dataset(bad, data_dir=tmp_path / "gz")
    # An unpacked copy cannot be compared with the checksum of the .gz download.
    load_image_dataset(bad, data_dir=tmp_path / "raw")


def test_expected_counts_checked_when_verifying(tmp_path):
    write_fake_dataset(tmp_path)
    spec = fake_spec(n_train=60000, n_test=6)
    with pytest.raises(DatasetError, match="expected 60000"):
        load_image_dataset(spec, data_dir=tmp_path)
    assert len(load_image_dataset(spec, data_dir=tmp_path, verify=False).x_train) == 12


def test_transposed_dataset_is_made_upright(tmp_path):
    x_train, y_train, x_test, y_test = fake_arrays()
    stored = (x_train.transpose(0, 2, 1).copy(), y_train, x_test.transpose(0, 2, 1).copy(), y_test)
    write_fake_dataset(tmp_path, stored)
    data = load_image_dataset(fake_spec(transposed=True), data_dir=tmp_path)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.x_test, x_test)
    assert data.x_train.flags.c_contiguous


# ---------------------------------------------------------------------------- downloads


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; ``/truncated/...`` announces more bytes than it sends."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/truncated/"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b\x08\x00" + bytes(40))
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (base_url, www, server)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(www))
    )
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def served_spec(base: str, www: Path, mirror_dirs=("missing/", "good/"), **changes) -> ImageDatasetSpec:
    """Write a fake data set into ``www/good`` and return a spec downloading it with md5s."""
    arrays = write_fake_dataset(www / "good")
    files = [
        DataFile(name, md5=md5((www / "good" / name).read_bytes()), content_md5=md5(idx_content(a)))
        for name, a in zip(FILE_NAMES, arrays)
    ]
    spec = fake_spec(
        train_images=files[0],
        train_labels=files[1],
        test_images=files[2],
        test_labels=files[3],
        mirrors=tuple(base + d for d in mirror_dirs),
        n_train=12,
        n_test=6,
    )
    return dataclasses.replace(spec, **changes)


def test_download_tries_mirrors_in_order(server, tmp_path):
    base, www, httpd = server
    spec = served_spec(base, www)
    lines = []
    folder = download_dataset(spec, root=tmp_path / "data", log=lines.append)
    assert folder == tmp_path / "data" / "fake"
    assert leftovers(folder) == sorted(FILE_NAMES)
    assert httpd.requests[:2] == ["/missing/" + FILE_NAMES[0], "/good/" + FILE_NAMES[0]]
    assert any("failed" in line for line in lines)
    for name in FILE_NAMES:
        assert (folder / name).read_bytes() == (www / "good" / name).read_bytes()
    data = load_image_dataset(spec, data_dir=tmp_path / "data")
    assert data.x_train.shape == (12, 28, 28)


def test_download_skips_valid_files_and_force_refetches(server, tmp_path):
    base, www, httpd = server
    spec = served_spec(base, www, mirror_dirs=("good/",))
    folder = download_dataset(spec, root=tmp_path)
    assert len(httpd.requests) == 4
    download_dataset(spec, root=tmp_path)
    assert len(httpd.requests) == 4
    (folder / FILE_NAMES[1]).write_bytes(b"garbage")  # a corrupt file is fetched again
    download_dataset(spec, root=tmp_path)
    assert httpd.requests[4:] == ["/good/" + FILE_NAMES[1]]
    download_dataset(spec, root=tmp_path, force=True)
    assert len(httpd.requests) == 9
    assert leftovers(folder) == sorted(FILE_NAMES)


def test_load_with_download_true(server, tmp_path):
    base, www, httpd = server
    spec = served_spec(base, www)
    data = load_image_dataset(spec, data_dir=tmp_path, download=True)
    assert data.x_test.shape == (6, 28, 28)
    assert leftovers(tmp_path / "fake") == sorted(FILE_NAMES)


@pytest.mark.parametrize("which", ["md5", "content_md5"])
def test_checksum_mismatch_leaves_no_file(server, tmp_path, which):
    base, www, httpd = server
    spec = served_spec(base, www, mirror_dirs=("good/",))
    wrong = dataclasses.replace(spec.train_labels, **{which: "0" * 32})
    spec = dataclasses.replace(spec, train_labels=wrong)
    with pytest.raises(DatasetError, match="checksum mismatch") as info:
        download_dataset(spec, root=tmp_path)
    assert base + "good/" + FILE_NAMES[1] in str(info.value)
    assert FILE_NAMES[1] not in leftovers(tmp_path / "fake")
    assert not [n for n in leftovers(tmp_path / "fake") if n.endswith(".part")]


def test_truncated_transfer_leaves_no_file(server, tmp_path):
    base, www, httpd = server
    spec = served_spec(base, www, mirror_dirs=("truncated/",))
    with pytest.raises(DatasetError, match="every source failed"):
        download_dataset(spec, root=tmp_path)
    assert leftovers(tmp_path / "fake") == []


def test_non_gzip_download_rejected(server, tmp_path):
    base, www, httpd = server
    (www / "html").mkdir()
    for name in FILE_NAMES:
        (www / "html" / name).write_text("<html>not found</html>")
    spec = fake_spec(mirrors=(base + "html/",))
    with pytest.raises(DatasetError, match="not gzip"):
        download_dataset(spec, root=tmp_path)
    assert leftovers(tmp_path / "fake") == []


def test_all_mirrors_failing_lists_every_url(server, tmp_path):
    base, www, httpd = server
    spec = fake_spec(mirrors=(base + "a/", base + "b/", "http://127.0.0.1:9/c/"))
    with pytest.raises(DatasetError) as info:
        download_dataset(spec, root=tmp_path, timeout=5)
    message = str(info.value)
    for url in (base + "a/", base + "b/", "http://127.0.0.1:9/c/"):
        assert url + FILE_NAMES[0] in message
    assert str(tmp_path / "fake") in message


def make_zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return md5(path.read_bytes())


def test_archive_download_extracts_members(server, tmp_path):
    base, www, httpd = server
    x_train, y_train, x_test, y_test = fake_arrays()
    stored = (x_train.transpose(0, 2, 1), y_train, x_test.transpose(0, 2, 1), y_test)
    names = [n.replace("-idx", "-x-idx").replace("t10k", "test") for n in FILE_NAMES]
    members = {f"gzip/fake-{n}": gzip.compress(idx_content(a)) for n, a in zip(names, stored)}
    members["gzip/unrelated.gz"] = gzip.compress(b"other")
    zip_md5 = make_zip(www / "gzip.zip", members)
    spec = fake_spec(
        train_images=DataFile("fake-" + names[0]),
        train_labels=DataFile("fake-" + names[1]),
        test_images=DataFile("fake-" + names[2]),
        test_labels=DataFile("fake-" + names[3]),
        archive=Archive("gzip.zip", urls=(base + "missing.zip", base + "gzip.zip"), md5=zip_md5),
        transposed=True,
    )
    folder = download_dataset(spec, root=tmp_path)
    assert leftovers(folder) == sorted("fake-" + n for n in names)
    data = load_image_dataset(spec, data_dir=tmp_path)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_test, y_test)

    bad = dataclasses.replace(spec, archive=dataclasses.replace(spec.archive, md5="1" * 32))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        download_dataset(bad, root=tmp_path / "other")
    assert leftovers(tmp_path / "other" / "fake") == []


def test_archive_missing_member(server, tmp_path):
    base, www, httpd = server
    zip_md5 = make_zip(www / "gzip.zip", {"gzip/something.gz": gzip.compress(b"x")})
    spec = fake_spec(archive=Archive("gzip.zip", urls=(base + "gzip.zip",), md5=zip_md5))
    with pytest.raises(DatasetError, match="archive lacks"):
        download_dataset(spec, root=tmp_path)
    assert leftovers(tmp_path / "fake") == []


# ---------------------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def mnist():
    return load_image_dataset("mnist", data_dir=SHARED_DATA)  # verify=True: checksums


@needs_mnist
def test_real_mnist(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.int64
    assert mnist.y_train.min() == 0 and mnist.y_train.max() == 9
    assert set(np.unique(mnist.y_test)) == set(range(10))
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert mnist.x_train.max() == 255 and mnist.x_train.min() == 0


@needs_mnist
def test_real_mnist_checksums(mnist):
    # The loader verified all four files; check the registry values independently on the
    # smaller files (the 47 MB training images are covered by the load above).
    spec = IMAGE_DATASETS["mnist"]
    for data_file in (spec.train_labels, spec.test_images, spec.test_labels):
        content = gzip.decompress((MNIST_DIR / data_file.name).read_bytes())
        assert md5(content) == data_file.content_md5


@needs_mnist
def test_download_dataset_keeps_verified_files_without_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download_dataset must not touch the network here")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download_dataset("mnist", root=SHARED_DATA) == MNIST_DIR


# ---------------------------------------------------------------------------- Yin-Yang


@needs_yinyang
@pytest.mark.parametrize("split,size", [("train", 5000), ("validation", 1000), ("test", 1000)])
def test_yinyang_class_reproduces_publication_labels(split, size):
    samples, labels = load_yinyang(SHARED_DATA, split)
    assert samples.shape == (size, 4) and labels.shape == (size,)
    np.testing.assert_array_equal(yinyang_class(samples[:, 0], samples[:, 1]), labels)


@needs_yinyang
def test_generator_matches_publication_statistics():
    pub_x, pub_y = load_yinyang(YINYANG_DIR, "train")
    gen_x, gen_y = generate_yinyang(30000, seed=3)
    for cls in range(3):
        pub_mean = pub_x[pub_y == cls, :2].mean(axis=0)
        gen_mean = gen_x[gen_y == cls, :2].mean(axis=0)
        np.testing.assert_allclose(gen_mean, pub_mean, atol=0.02)


def test_yinyang_class_geometry():
    x = np.array([0.25, 0.75, 0.5, 0.5, 0.25, 0.75, 0.02, 0.5])
    y = np.array([0.5, 0.5, 0.9, 0.1, 0.7, 0.3, 0.02, 0.4])
    assert yinyang_class(x, y).tolist() == [2, 2, 1, 0, 1, 0, -1, 0]
    assert yinyang_class(0.25, 0.5).shape == ()


@pytest.mark.parametrize("n", [0, 1, 7, 3000])
def test_generator_balanced_and_consistent(n):
    samples, labels = generate_yinyang(n, seed=5)
    assert samples.shape == (n, 4) and samples.dtype == np.float64
    assert labels.shape == (n,) and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=3)
    assert counts.max() - counts.min() <= 1 and counts.sum() == n
    np.testing.assert_array_equal(yinyang_class(samples[:, 0], samples[:, 1]), labels)
    np.testing.assert_allclose(samples[:, 2:], 1.0 - samples[:, :2])
    assert np.all(np.hypot(samples[:, 0] - 0.5, samples[:, 1] - 0.5) <= 0.5)


def test_generator_seeded():
    a = generate_yinyang(500, seed=11)
    b = generate_yinyang(500, seed=11)
    c = generate_yinyang(500, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_generator_rejects_bad_arguments():
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError):
            generate_yinyang(bad)
    with pytest.raises(ValueError):
        generate_yinyang(10, r_small=0.3, r_big=0.5)


def _save_split(folder: Path, samples, labels, split="train"):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{split}_samples.npy", samples)
    np.save(folder / f"{split}_labels.npy", labels)


def test_load_yinyang_from_folder_or_parent(tmp_path):
    samples, labels = generate_yinyang(30, seed=1)
    _save_split(tmp_path / "yin_yang", samples, labels, "validation")
    for data_dir in (tmp_path, tmp_path / "yin_yang"):
        got_x, got_y = load_yinyang(data_dir, "validation")
        np.testing.assert_array_equal(got_x, samples)
        np.testing.assert_array_equal(got_y, labels)


def test_load_yinyang_errors(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_yinyang(tmp_path, "val")
    with pytest.raises(DatasetError) as info:
        load_yinyang(tmp_path / "none", "test")
    assert str(tmp_path / "none") in str(info.value) and str(tmp_path / "none" / "yin_yang") in str(info.value)

    samples, labels = generate_yinyang(9, seed=2)
    cases = {
        "shape": (samples[:, :3], labels),
        "NaN": (np.where(np.eye(9, 4, dtype=bool), np.nan, samples), labels),
        "labels must be": (samples, labels + 1),
        "8 labels": (samples, labels[:-1]),
        "integer": (samples, labels.astype(np.float64)),
    }
    for i, (expected, (x, y)) in enumerate(cases.items()):
        folder = tmp_path / f"case{i}"
        _save_split(folder, x, y)
        with pytest.raises(DatasetError, match=expected):
            load_yinyang(folder, "train")

    folder = tmp_path / "broken"
    _save_split(folder, samples, labels)
    (folder / "train_samples.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match=str(folder / "train_samples.npy")):
        load_yinyang(folder, "train")
