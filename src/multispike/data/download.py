"""Downloading registered image data sets, with checksums and atomic writes.

Every download goes to a temporary file in the destination folder and is moved to its
final name with :func:`os.replace` only after it has been verified, so an interrupted or
corrupt download never leaves a file that looks complete.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from .checksum import check_md5, md5_bytes, md5_file
from .errors import DatasetError
from .idx import parse_idx, read_file_bytes
from .registry import Archive, DataFile, ImageDatasetSpec, get_image_dataset_spec

#: Environment variable naming the data folder.
DATA_ENV_VAR = "MULTISPIKE_DATA"

_CHUNK = 1 << 20
# Failures that make us try the next mirror. URLError, HTTPError and timeouts are OSErrors;
# DatasetError (a ValueError) covers checksum and format problems, ValueError bad URLs.
_DOWNLOAD_ERRORS = (OSError, ValueError, http.client.HTTPException, zipfile.BadZipFile)


def default_data_dir() -> Path:
    """The folder that holds downloaded data sets.

    ``$MULTISPIKE_DATA`` when set (and not empty), else ``~/.cache/multispike``.
    """
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "multispike"


def download_dataset(
    name: str | ImageDatasetSpec,
    root: str | os.PathLike | None = None,
    force: bool = False,
    timeout: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download the data set ``name`` into ``root/<name>/`` and return that folder.

    ``root`` defaults to :func:`default_data_dir`. Files already present and matching
    their checksums are kept unless ``force`` is true. Mirrors are tried in order; each
    download is verified (download checksum, decompressed-content checksum where known, and
    IDX structure) before it is moved into place. ``log`` receives one line per step (pass
    ``print`` for progress output). Raises :class:`DatasetError` listing every URL tried
    and why it failed when a file cannot be obtained.
    """
    spec = get_image_dataset_spec(name)
    folder = Path(root if root is not None else default_data_dir()).expanduser() / spec.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot create the data folder ({exc})") from exc
    say = log if log is not None else (lambda message: None)
    todo = [f for f in spec.files if force or not _present_and_valid(folder, f, spec.name)]
    if not todo:
        say(f"{spec.name}: all files present in {folder}")
        return folder
    if spec.archive is not None:
        _download_from_archive(spec, spec.archive, todo, folder, timeout, say)
    else:
        for data_file in todo:
            _download_file(spec, data_file, folder, timeout, say)
    return folder


def _present_and_valid(folder: Path, data_file: DataFile, dataset: str) -> bool:
    """True when ``data_file`` is in ``folder`` (in any accepted form) and passes its checks."""
    for file_name in data_file.accepted_names:
        path = folder / file_name
        if path.is_file():
            try:
                content = read_file_bytes(path) if data_file.content_md5 else None
                data_file.check(path, dataset, content)
            except DatasetError:
                return False
            return True
    return False


def _join_url(base: str, file_name: str) -> str:
    return base if base.endswith("/" + file_name) else base.rstrip("/") + "/" + file_name


def _fetch_to_temp(url: str, folder: Path, label: str, timeout: float) -> tuple[Path, str]:
    """Stream ``url`` into a new temporary file in ``folder``; return its path and MD5.

    The temporary file is removed again if anything goes wrong.
    """
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{label}.", suffix=".part", delete=False)
    tmp = Path(handle.name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with handle, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


def _verify_idx_file(tmp: Path, data_file: DataFile, source: str) -> None:
    """Check a freshly downloaded data file: gzip-ness, content checksum, IDX structure."""
    if data_file.name.endswith(".gz"):
        with open(tmp, "rb") as handle:
            if handle.read(2) != b"\x1f\x8b":
                raise DatasetError(f"{source}: the download is not gzip data")
    content = read_file_bytes(tmp)
    if data_file.content_md5 is not None:
        check_md5(md5_bytes(content), data_file.content_md5, f"{source} (decompressed)")
    parse_idx(content, source=source)


def _fetch_first(urls, name: str, md5, folder: Path, timeout: float, say, finish) -> list[str] | None:
    """Try ``urls`` in order: download to a temporary file, check ``md5`` (if known), then
    ``finish(tmp, url)``; the temporary file is always removed. Returns None on success,
    else the list of failures (empty when there was no URL to try)."""
    failures = []
    for url in urls:
        say(f"downloading {url}")
        try:
            tmp, digest = _fetch_to_temp(url, folder, name, timeout)
            try:
                if md5 is not None:
                    check_md5(digest, md5, url)
                finish(tmp, url)
            finally:
                tmp.unlink(missing_ok=True)
            return None
        except _DOWNLOAD_ERRORS as exc:
            say(f"  failed: {exc}")
            failures.append(f"{url}: {exc}")
    return failures


def _download_file(
    spec: ImageDatasetSpec, data_file: DataFile, folder: Path, timeout: float, say
) -> None:
    """Fetch one file from the first mirror that delivers it intact."""
    if not spec.mirrors:
        raise DatasetError(f"{spec.name}: no download mirrors are known for {data_file.name}")

    def finish(tmp, url):
        _verify_idx_file(tmp, data_file, url)
        os.replace(tmp, folder / data_file.name)

    urls = [_join_url(base, data_file.name) for base in spec.mirrors]
    failures = _fetch_first(urls, data_file.name, data_file.md5, folder, timeout, say, finish)
    if failures is not None:
        raise _all_failed(spec, data_file.name, failures, folder)


def _download_from_archive(
    spec: ImageDatasetSpec,
    archive: Archive,
    todo: Iterable[DataFile],
    folder: Path,
    timeout: float,
    say,
) -> None:
    """Fetch the archive from the first working URL and extract the files in ``todo``."""
    todo = list(todo)
    failures = _fetch_first(archive.urls, archive.name, archive.md5, folder, timeout, say,
                            lambda tmp, url: _extract_members(tmp, url, todo, folder, say))
    if failures is not None:
        raise _all_failed(spec, archive.name, failures, folder)


def _extract_members(zip_path: Path, source: str, todo: list[DataFile], folder: Path, say) -> None:
    """Extract each file of ``todo`` (matched by base name) from the zip at ``zip_path``."""
    with zipfile.ZipFile(zip_path) as archive:
        by_name = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
        missing = [f.name for f in todo if f.name not in by_name]
        if missing:
            raise DatasetError(f"{source}: archive lacks {', '.join(missing)}")
        for data_file in todo:
            member = by_name[data_file.name]
            say(f"  extracting {member.filename}")
            handle = tempfile.NamedTemporaryFile(
                dir=folder, prefix=f".{data_file.name}.", suffix=".part", delete=False
            )
            tmp = Path(handle.name)
            try:
                with handle, archive.open(member) as stream:
                    shutil.copyfileobj(stream, handle, _CHUNK)
                member_source = f"{source}!{member.filename}"
                if data_file.md5 is not None:
                    check_md5(md5_file(tmp), data_file.md5, member_source)
                _verify_idx_file(tmp, data_file, member_source)
                os.replace(tmp, folder / data_file.name)
            finally:
                tmp.unlink(missing_ok=True)


def _all_failed(spec: ImageDatasetSpec, what: str, failures: list[str], folder: Path) -> DatasetError:
    tried = "\n  ".join(failures)
    return DatasetError(
        f"could not download {what} for data set {spec.name!r}; every source failed:\n  {tried}\n"
        f"Download the files by hand (see {spec.homepage or 'the data set homepage'}) and put "
        f"them into {folder}"
    )
