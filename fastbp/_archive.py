"""The file format of saved networks: ``.npz`` archives that need no pickle to read.

A file holds ``meta`` (a JSON string: format name and version, sizes,
activations, dtype, and the optimizer's configuration when saved with one),
``params``, and optionally ``optimizer_state``.  It is written to a temporary
file in the same directory and renamed over the target, so a crash never
leaves a half-written file under the target's name.  ``fastbp.load``
(``io.py``) reads it back into a network.
"""
import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastbp"
VERSION = 1


def save(path, sizes, activations, params, optimizer=None):
    """Write a network of these ``sizes``, ``activations`` and ``params``
    (and ``optimizer``'s state, to resume training) to ``path``, atomically."""
    meta = {"format": FORMAT, "version": VERSION, "sizes": list(sizes),
            "activations": list(activations), "dtype": params.dtype.name}
    arrays = {"params": params}
    if optimizer is not None:
        saved = optimizer.state_dict()
        meta["optimizer"] = {k: saved[k] for k in ("config", "steps", "epoch")}
        if saved["state"] is not None:
            arrays["optimizer_state"] = saved["state"]
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".fastbp-", suffix=".npz")
    try:
        # mkstemp makes the file private (0o600); give it the mode a plain
        # open() would, so replacing the target does not change who can read it.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read(path):
    """(metadata, {name: array}) of the archive at ``path``; ``ValueError``
    naming the file for anything that is not a readable fastbp archive of
    this version (a missing file keeps its ``FileNotFoundError``)."""
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path}: not a readable fastbp file ({exc})") from None
    with refusing(path):
        meta = json.loads(str(arrays["meta"]))
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
        if meta.get("format") != FORMAT:
            raise ValueError("its metadata does not name the fastbp format")
        if meta.get("version") != VERSION:
            raise ValueError(f"format version {meta.get('version')!r}; this fastbp reads "
                             f"version {VERSION}")
    return meta, arrays


@contextlib.contextmanager
def refusing(path):
    """Turn a missing entry or a wrong field met while reading the file at
    ``path`` into the ``ValueError`` that names the file."""
    try:
        yield
    except KeyError as exc:
        raise ValueError(f"{path}: not a valid fastbp file: no entry {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid fastbp file: {exc}") from None
