"""``fastbp.load``: a network (and its optimizer) back from a file written by
``Network.save`` (the format: ``_archive.py``)."""
from . import _archive
from .network import Network
from .optimizers import from_config


def load(path, optimizer=False):
    """The network saved at ``path``; with ``optimizer=True``, (network, optimizer or None).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``Network.save``.
    optimizer : bool
        Also rebuild the optimizer saved with the network, with its state, so
        that training resumes exactly.

    Raises
    ------
    ValueError
        The file is truncated, corrupted or not a fastbp file (the message
        names it and what is wrong).
    FileNotFoundError
        There is no file at ``path``.
    """
    meta, data = _archive.read(path)
    with _archive.refusing(path):
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
            state = opt.state
            if state is not None and (state.shape != (2, net.n_params)
                                      or state.dtype != net.dtype):
                raise ValueError(f"optimizer_state has {state.dtype} {state.shape}, the "
                                 f"network needs {net.dtype} {(2, net.n_params)}")
    return (net, opt) if optimizer else net
