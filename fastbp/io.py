"""Saving and loading networks: ``.npz`` files that need no pickle to read.

A file holds ``meta`` (a JSON string: format name and version, sizes,
activations, dtype, and the optimizer's configuration when saved with one),
``params``, and optionally ``optimizer_state``.  It is written to a temporary
file in the same directory and renamed over the target, so a crash never
leaves a half-written file under the target's name.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastbp"
VERSION = 1


def save(net, path, optimizer=None):
    meta = {"format": FORMAT, "version": VERSION, "sizes": list(net.sizes),
            "activations": list(net.activations), "dtype": net.dtype.name}
    arrays = {"params": net.params}
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


def _read(path):
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path}: not a readable fastbp file ({exc})") from None


def load(path, optimizer=False):
    """The network saved at ``path``; with ``optimizer=True``, (network, optimizer or None)."""
    from .network import Network
    from .optimizers import from_config

    data = _read(path)
    try:
        meta = json.loads(str(data["meta"]))
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
        if meta.get("format") != FORMAT:
            raise ValueError("its metadata does not name the fastbp format")
        if meta.get("version") != VERSION:
            raise ValueError(f"format version {meta.get('version')!r}; this fastbp reads "
                             f"version {VERSION}")
        net = Network(meta["sizes"], meta["activations"], dtype=meta["dtype"])
        params = data["params"]
        if params.shape != net.params.shape or params.dtype != net.dtype:
            raise ValueError(f"params has {params.dtype} {params.shape}, the layout needs "
                             f"{net.dtype} {net.params.shape}")
        net.params = params
        opt = None
        if optimizer and "optimizer" in meta:
            saved = dict(meta["optimizer"], state=data.get("optimizer_state"))
            opt = from_config(saved["config"])
            opt.load_state_dict(saved)
            state = opt._state
            if state is not None and (state.shape != (2, net.n_params)
                                      or state.dtype != net.dtype):
                raise ValueError(f"optimizer_state has {state.dtype} {state.shape}, the "
                                 f"network needs {net.dtype} {(2, net.n_params)}")
    except KeyError as exc:
        raise ValueError(f"{path}: not a valid fastbp file: no entry {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid fastbp file: {exc}") from None
    return (net, opt) if optimizer else net
