"""Reading and writing IDX files, the array format of MNIST and its relatives.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` codes the element type,
``DD`` the number of dimensions), followed by ``DD`` big-endian uint32 dimension sizes and
the elements themselves in big-endian, C order. Files may be gzip-compressed.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetError

#: IDX type code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """Return the content of ``path``, decompressed when it is gzip-compressed.

    A file whose name ends in ``.gz`` must be gzip data; any other file is decompressed
    only when it starts with the gzip magic bytes. Raises :class:`DatasetError` naming the
    file when it is missing, unreadable or not valid gzip data.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    is_gzip = raw[:2] == _GZIP_MAGIC
    if path.suffix == ".gz" and not is_gzip:
        raise DatasetError(f"{path}: corrupt gzip file (it does not start with the gzip header)")
    if not is_gzip:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt or truncated gzip file ({exc})") from exc


def parse_idx(data: bytes, source: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Parse the (uncompressed) bytes of an IDX file into a native-endian numpy array.

    ``source`` names the data in error messages. The header is checked strictly: the
    first two bytes must be zero, the type code known, at least one dimension given, and the
    payload must hold exactly the number of elements the dimensions announce.
    """
    if len(data) < 4:
        raise DatasetError(f"{source}: not an IDX file (only {len(data)} bytes, header needs 4)")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{source}: bad IDX magic number 0x{data[:4].hex()} (must start with 0x0000)"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise DatasetError(f"{source}: unknown IDX element type code 0x{type_code:02x}")
    if ndim == 0:
        raise DatasetError(f"{source}: IDX header declares zero dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DatasetError(
            f"{source}: truncated IDX header ({len(data)} bytes, {header_size} needed "
            f"for {ndim} dimensions)"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DatasetError(
            f"{source}: IDX file {what}: shape {shape} of {dtype.name} needs {expected} "
            f"payload bytes, found {actual}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    # Native byte order and a writable, independent copy.
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed) into a numpy array.

    Raises :class:`DatasetError` with the file name for a missing, unreadable, truncated,
    corrupt-gzip or malformed file.
    """
    return parse_idx(read_file_bytes(path), source=path)


def idx_bytes(array: np.ndarray) -> bytes:
    """Return the uncompressed IDX encoding of ``array``."""
    array = np.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    for code, dtype in IDX_DTYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise TypeError(f"dtype {array.dtype} cannot be stored in an IDX file")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compress it when ``path`` ends in ``.gz``.

    Supported dtypes are uint8, int8, int16, int32, float32 and float64. Returns the path.
    """
    path = Path(path)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
