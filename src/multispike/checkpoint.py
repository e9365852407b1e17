"""Run folders and checkpoints: atomic writes, safe loading, a consistent ``best.pt``, and
the network a checkpoint holds (:func:`load_trained`, built by :func:`build_network`).

A checkpoint is a dictionary of plain values only (tensors, numbers, strings, lists, dicts,
``None``), written by :func:`torch.save` and read back with ``weights_only=True``: opening
a checkpoint never runs code that is stored in it, whoever made the file. A file that
would need code execution to load is refused with :class:`UnsafeCheckpointError`; an empty,
damaged or foreign file gets a ValueError that says which of these it is.

Every file of a run folder is written to a temporary file in the same folder and renamed
over its final name (:func:`write_atomic`), so a kill at any moment leaves either the old
or the new file, never a half-written one. Temporary files that a kill left behind are
removed when the run folder is next opened for training (:func:`remove_stale_temporaries`).

``best.pt`` is written after the ``last.pt`` that records it. A kill between the two
leaves a ``last.pt`` whose history names a better epoch than the one ``best.pt`` holds;
:func:`repair_best` then copies ``last.pt`` (which is that epoch's model) to ``best.pt``
before training goes on. The selected (best) accuracy a run reports is always read from
``best.pt`` itself, so the two cannot disagree.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from .config import TrainConfig, config_from_dict, parse_init
from .network import SpikingNetwork

__all__ = ["CHECKPOINT_FORMAT", "UnsafeCheckpointError", "CheckpointWriteError", "write_atomic",
           "save_checkpoint", "load_checkpoint", "check_writable", "remove_stale_temporaries",
           "repair_best", "checkpoint_nbytes", "build_network", "load_trained"]

CHECKPOINT_FORMAT = "multispike-checkpoint-1"

#: Suffix of the temporary files of :func:`write_atomic` (``NAME.<random>.tmp``).
_TMP_SUFFIX = ".tmp"


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds objects that only code execution could rebuild; it was not run."""


class CheckpointWriteError(OSError):
    """A file of a run folder could not be written (disk full, permissions, ...)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the permissions an ordinary new file would get (0666 less the umask).
    Any failure (disk full, permissions) removes the temporary file and raises
    :class:`CheckpointWriteError` naming ``path``; the previous ``path`` is left intact.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=_TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        reason = exc.strerror or str(exc)
        raise CheckpointWriteError(exc.errno, f"could not write {path}: {reason}") from exc
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path, payload: dict) -> None:
    """Serialise ``payload`` in memory, then :func:`write_atomic` it to ``path``."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def checkpoint_nbytes(payload: dict) -> int:
    """Size in bytes of ``payload`` as a checkpoint file."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.tell()


def load_checkpoint(path) -> dict:
    """Read a multispike checkpoint without running any code stored in it.

    Raises FileNotFoundError (no such file), IsADirectoryError (a folder: name the
    checkpoint file in it), :class:`UnsafeCheckpointError` (a real pickle whose objects need
    code execution to load) or ValueError (an empty file, a file of another format, or a
    corrupt or truncated checkpoint; the message says which).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a checkpoint file such as "
                                f"{path / 'best.pt'} or {path / 'last.pt'}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if not head:
        raise ValueError(f"{path} is empty (0 bytes), not a checkpoint")
    kind = _file_kind(head)
    if kind not in ("torch", "pickle"):
        raise ValueError(f"{path} is not a multispike checkpoint: it looks like {kind}")
    try:
        with warnings.catch_warnings():  # the refusal below is the message, not torch's warnings
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        code = _global_needing_code(exc)
        if code is not None:
            raise UnsafeCheckpointError(
                f"{path} holds Python objects that need code execution to rebuild ({code}), "
                f"so it was refused and nothing in it was run. multispike checkpoints hold only "
                f"tensors, numbers, strings, lists and dicts; this file was made by another "
                f"program. Open such a file only if you trust where it came from.") from None
        detail = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        detail = detail or {"EOFError": "the file ends early"}.get(type(exc).__name__, type(exc).__name__)
        what = "a torch file" if kind == "torch" else "a pickle"
        raise ValueError(f"{path} is {what} that is corrupt or truncated ({path.stat().st_size} "
                         f"bytes; {detail})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is a torch file but not a multispike checkpoint "
                         f"(no '{CHECKPOINT_FORMAT}' format mark)")
    return payload


#: Bytes read from the start of a file to tell its format.
_HEAD_BYTES = 512


def _file_kind(head: bytes) -> str:
    """What a file looks like from its first bytes: "torch" (torch.save's zip archive),
    "pickle" (torch's legacy format or a bare pickle), or a description of another format."""
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head[:1] == b"\x80" and 2 <= head[1:2][0] <= 5:  # a pickle's PROTO opcode
        return "pickle"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file (a NIR graph is one: `multispike import` reads NIR)"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:  # a character cut at the end of ``head`` is still text
            text = head[:exc.start].decode("utf-8") if exc.start > len(head) - 4 else None
        if text is not None:
            if text.lstrip().startswith(("{", "[")):
                return "a JSON text file (settings go to `multispike train --config FILE`)"
            return "a text file"
    return "an unknown binary format"


def _global_needing_code(exc: BaseException) -> str | None:
    """The Python object (``module.name``) that a weights-only load refused to import, or
    None if ``exc`` is about a damaged file instead."""
    if not isinstance(exc, pickle.UnpicklingError):
        return None
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return match.group(1) if match else None


def check_writable(folder, needed_bytes: int = 0) -> Path:
    """Create ``folder`` if needed and make sure files can be written into it.

    Writes and removes a probe file, and with ``needed_bytes`` checks the free space.
    Raises :class:`CheckpointWriteError` naming the folder, so a run fails before any work.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=_TMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CheckpointWriteError(exc.errno, f"cannot write into the run folder {folder}: "
                                              f"{reason}") from exc
    free = shutil.disk_usage(folder).free
    if needed_bytes and free < needed_bytes:
        raise CheckpointWriteError(
            28, f"not enough free space in {folder} for this run's checkpoints: "
                f"{free / 1e6:.1f} MB free, {needed_bytes / 1e6:.1f} MB needed")
    return folder


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete temporary files that an interrupted :func:`write_atomic` left in ``folder``."""
    stale = [p for p in Path(folder).glob("*" + _TMP_SUFFIX) if p.is_file()]
    for p in stale:
        p.unlink()
    return stale


def repair_best(last_path, best_path, last: dict) -> bool:
    """Make ``best.pt`` hold the epoch that ``last`` (the payload of ``last.pt``) names as
    selected. Only a kill between writing ``last.pt`` and ``best.pt`` can leave them
    apart, and then the selected epoch is the last one, so ``last.pt`` is copied over.
    Returns whether a copy was made."""
    selected = last.get("selected_epoch")
    if selected is None:
        return False
    best_path = Path(best_path)
    if best_path.exists() and load_checkpoint(best_path).get("epoch") == selected:
        return False
    if selected != last.get("epoch"):
        raise ValueError(f"{best_path} does not hold epoch {selected}, which {last_path} "
                         f"names as the selected one; the run folder was changed by hand")
    write_atomic(best_path, Path(last_path).read_bytes())
    return True


# ----------------------------------------------------------------------------- trained networks


def build_network(config: TrainConfig, n_inputs: int, n_out: int) -> SpikingNetwork:
    """The untrained network ``config`` describes, with ``n_inputs`` inputs and ``n_out``
    outputs: its ``architecture`` when it has one, else dense layers of ``hidden`` sizes."""
    if config.architecture:  # convolution / pooling / dense layers, outputs included
        net = SpikingNetwork.from_architecture(
            config.architecture, n_inputs, tau_s=config.tau_s, thresholds=config.thresholds,
            resets=config.resets, max_spikes=config.max_spikes, t_max=config.t_max,
            inits=[parse_init(s) for s in config.init], tau_mem=config.tau_mem)
        if net.sizes[-1] != n_out:
            raise ValueError(f"architecture {config.architecture!r} ends with {net.sizes[-1]} "
                             f"outputs, but {config.dataset} has {n_out} classes")
        return net
    return SpikingNetwork([n_inputs, *config.hidden, n_out], tau_s=config.tau_s,
                          thresholds=config.thresholds, resets=config.resets,
                          max_spikes=config.max_spikes, t_max=config.t_max,
                          inits=[parse_init(s) for s in config.init], tau_mem=config.tau_mem)


def load_trained(path, data_dir=None):
    """(network, config) from a checkpoint; ``data_dir`` overrides the stored one."""
    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"])
    if data_dir is not None:
        config.data_dir = str(data_dir)
    net = build_network(config, payload["n_inputs"], payload["n_classes"])
    net.load_state_dict(payload["model"])
    return net, config
