"""Saving, loading and pickling networks.

Covers: ``save``/``fastbp.load`` round trips (both dtypes, with and without
the optimizer) reproducing outputs exactly; resuming training after a load
exactly as without it; the file being a plain ``.npz`` (no pickle); atomic
replacement; refusal of damaged and foreign files; pickling, also across
processes started with ``spawn``.
"""
import json
import multiprocessing
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastbp

DTYPES = [np.float64, np.float32]


def make_net(dtype=np.float64, seed=0):
    return fastbp.Network([6, 10, 7, 3], ["tanh", "relu", "softmax"], dtype=dtype, seed=seed)


def data(n=30, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(dtype)
    y = rng.integers(0, 3, size=n)
    return X, y


def trained(dtype=np.float64, optimizer=None, epochs=3):
    net = make_net(dtype)
    X, y = data(dtype=dtype)
    optimizer = fastbp.Adam(lr=0.01) if optimizer is None else optimizer
    net.fit(X, y, epochs=epochs, batch_size=8, optimizer=optimizer, loss="cross_entropy",
            seed=0, progress=False)
    return net, optimizer


def leftovers(folder, keep):
    return sorted(set(os.listdir(folder)) - set(keep))


# --- round trips ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_reproduces_outputs_exactly(tmp_path, dtype):
    net, _ = trained(dtype)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = fastbp.load(path)
    assert isinstance(loaded, fastbp.Network)
    assert loaded.sizes == net.sizes and loaded.activations == net.activations
    assert loaded.dtype == net.dtype == np.dtype(dtype)
    assert np.array_equal(loaded.params, net.params)
    X, _ = data(n=50, seed=9)
    assert np.array_equal(loaded.forward(X), net.forward(X))
    assert np.array_equal(loaded.forward(X[0]), net.forward(X[0]))
    # The loaded network is independent of the one saved.
    loaded.params[0] += 1.0
    assert not np.array_equal(loaded.params, net.params)
    assert leftovers(tmp_path, ["net.npz"]) == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_with_optimizer(tmp_path, dtype):
    net, opt = trained(dtype, fastbp.RMSprop(lr=0.01, momentum=0.5, clip_norm=2.0))
    path = tmp_path / "with-optimizer.npz"
    net.save(path, optimizer=opt)
    loaded, loaded_opt = fastbp.load(path, optimizer=True)
    X, _ = data(n=20, seed=4)
    assert np.array_equal(loaded.forward(X), net.forward(X))
    assert type(loaded_opt) is fastbp.RMSprop
    assert loaded_opt.config() == opt.config()
    assert loaded_opt.steps == opt.steps > 0 and loaded_opt.epoch == opt.epoch == 3
    saved, restored = opt.state_dict()["state"], loaded_opt.state_dict()["state"]
    assert restored.dtype == np.dtype(dtype)
    assert np.array_equal(saved, restored)
    # Loading without asking for the optimizer gives just the network.
    just_net = fastbp.load(path)
    assert isinstance(just_net, fastbp.Network)
    assert np.array_equal(just_net.params, net.params)


def test_load_optimizer_from_a_file_saved_without_one(tmp_path):
    net, _ = trained()
    net.save(tmp_path / "plain.npz")
    loaded, opt = fastbp.load(tmp_path / "plain.npz", optimizer=True)
    assert opt is None and np.array_equal(loaded.params, net.params)


def test_unused_optimizer_round_trip(tmp_path):
    net = make_net()
    opt = fastbp.SGD(lr=fastbp.CosineDecay(0.1, T_max=4), momentum=0.9, nesterov=True)
    net.save(str(tmp_path / "fresh.npz"), optimizer=opt)  # str paths as well as Path
    loaded, loaded_opt = fastbp.load(str(tmp_path / "fresh.npz"), optimizer=True)
    assert loaded_opt.steps == 0 and loaded_opt.state_dict()["state"] is None
    assert loaded_opt.config() == opt.config()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_opt", [
    lambda: fastbp.Adam(lr=fastbp.StepDecay(0.02, step_size=2, gamma=0.5), weight_decay=1e-3),
    lambda: fastbp.SGD(lr=fastbp.ExponentialDecay(0.05, gamma=0.9), momentum=0.9),
    lambda: fastbp.AdamW(lr=0.01, clip_norm=0.5),
], ids=["adam-step-decay", "sgd-momentum-exponential", "adamw-clip"])
def test_resuming_after_load_continues_identically(tmp_path, dtype, make_opt):
    """fit 3 epochs, save, load, fit 3 more == fit 3 epochs, fit 3 more, in memory."""
    X, y = data(dtype=dtype)
    uninterrupted, opt = make_net(dtype), make_opt()
    resumed, opt_before_save = make_net(dtype), make_opt()
    for net, o in ((uninterrupted, opt), (resumed, opt_before_save)):
        net.fit(X, y, epochs=3, batch_size=8, optimizer=o, loss="cross_entropy", seed=1,
                progress=False)
    resumed.save(tmp_path / "checkpoint.npz", optimizer=opt_before_save)
    del resumed, opt_before_save
    resumed, opt_after_load = fastbp.load(tmp_path / "checkpoint.npz", optimizer=True)
    a = uninterrupted.fit(X, y, epochs=3, batch_size=8, optimizer=opt, loss="cross_entropy",
                          seed=2, progress=False)
    b = resumed.fit(X, y, epochs=3, batch_size=8, optimizer=opt_after_load,
                    loss="cross_entropy", seed=2, progress=False)
    assert a.loss == b.loss
    assert np.array_equal(resumed.params, uninterrupted.params)
    assert opt_after_load.steps == opt.steps == 24 and opt_after_load.epoch == opt.epoch == 6
    assert np.array_equal(opt_after_load.state_dict()["state"], opt.state_dict()["state"])


def test_resuming_without_shuffle_equals_one_long_run(tmp_path):
    X, y = data()
    whole, opt = make_net(), fastbp.Adam(lr=fastbp.CosineDecay(0.02, T_max=6))
    whole.fit(X, y, epochs=6, batch_size=7, optimizer=opt, loss="cross_entropy",
              shuffle=False, progress=False)
    first = make_net()
    first_opt = fastbp.Adam(lr=fastbp.CosineDecay(0.02, T_max=6))
    first.fit(X, y, epochs=2, batch_size=7, optimizer=first_opt, loss="cross_entropy",
              shuffle=False, progress=False)
    first.save(tmp_path / "c.npz", optimizer=first_opt)
    second, second_opt = fastbp.load(tmp_path / "c.npz", optimizer=True)
    second.fit(X, y, epochs=4, batch_size=7, optimizer=second_opt, loss="cross_entropy",
               shuffle=False, progress=False)
    assert np.array_equal(second.params, whole.params)


def test_resuming_train_steps_after_load(tmp_path):
    X, y = data()
    a, opt_a = make_net(), fastbp.RMSprop(lr=0.01, momentum=0.9)
    for lo in range(0, 15, 5):
        a.train_step(X[lo:lo + 5], y[lo:lo + 5], opt_a, loss="cross_entropy")
    a.save(tmp_path / "steps.npz", optimizer=opt_a)
    b, opt_b = fastbp.load(tmp_path / "steps.npz", optimizer=True)
    for lo in range(15, 30, 5):
        la = a.train_step(X[lo:lo + 5], y[lo:lo + 5], opt_a, loss="cross_entropy")
        lb = b.train_step(X[lo:lo + 5], y[lo:lo + 5], opt_b, loss="cross_entropy")
        assert la == lb
        assert np.array_equal(a.params, b.params)


# --- the file -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_file_is_a_plain_npz(tmp_path, dtype):
    net, opt = trained(dtype)
    path = tmp_path / "plain.npz"
    net.save(path, optimizer=opt)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as contents:
        names = set(contents.files)
        assert {"meta", "params", "optimizer_state"} <= names
        meta = json.loads(str(contents["meta"]))
        params = contents["params"]
        state = contents["optimizer_state"]
    assert meta["format"] == "fastbp" and isinstance(meta["version"], int)
    assert meta["sizes"] == list(net.sizes) and meta["activations"] == list(net.activations)
    assert np.dtype(meta["dtype"]) == np.dtype(dtype)
    assert params.dtype == np.dtype(dtype) and np.array_equal(params, net.params)
    assert state.shape == (2, net.n_params)
    assert np.array_equal(state, opt.state_dict()["state"])
    assert meta["optimizer"]["config"] == json.loads(json.dumps(opt.config()))


def test_save_writes_exactly_the_path_given(tmp_path):
    net = make_net()
    net.save(tmp_path / "model")  # no suffix added
    assert os.listdir(tmp_path) == ["model"]
    assert np.array_equal(fastbp.load(tmp_path / "model").params, net.params)


def test_save_replaces_an_existing_file_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"an older file that is not even a network")
    (tmp_path / "neighbour.txt").write_text("untouched")
    for seed in range(3):
        net = make_net(seed=seed)
        net.save(path, optimizer=fastbp.Adam())
        assert np.array_equal(fastbp.load(path).params, net.params)
        assert sorted(os.listdir(tmp_path)) == ["neighbour.txt", "net.npz"]
    assert (tmp_path / "neighbour.txt").read_text() == "untouched"


def test_a_failed_save_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    """A write that dies midway leaves the previous file intact and no temporary file."""
    path = tmp_path / "net.npz"
    old = make_net(seed=0)
    old.save(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(fastbp._archive.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        make_net(seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]
    assert np.array_equal(fastbp.load(path).params, old.params)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_file_has_the_usual_permissions(tmp_path):
    """As np.savez or open() would: 0o666 & ~umask, not mkstemp's private 0o600."""
    old = os.umask(0o022)
    try:
        make_net().save(tmp_path / "net.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "net.npz").st_mode & 0o777 == 0o644


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastbp.load(tmp_path / "absent.npz")


# --- refusing bad files -----------------------------------------------------------

@pytest.fixture
def good_file(tmp_path):
    # Large enough that the middle of the file is parameter data.
    net = fastbp.Network([40, 50, 10], ["tanh", "softmax"], seed=0)
    path = tmp_path / "good.npz"
    net.save(path)
    return path


def rewrite(path, out, change):
    """Copy the .npz at ``path`` to ``out`` with ``change(arrays, meta)`` applied."""
    with np.load(path, allow_pickle=False) as contents:
        arrays = {name: contents[name] for name in contents.files}
    meta = json.loads(str(arrays.pop("meta")))
    change(arrays, meta)
    np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
    return out


def refused(path):
    with pytest.raises(ValueError) as info:
        fastbp.load(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_good_file_loads(good_file):
    assert fastbp.load(good_file).sizes == (40, 50, 10)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_refused(good_file, tmp_path, fraction):
    raw = good_file.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[:int(len(raw) * fraction)])
    refused(bad)


def test_empty_file_is_refused(tmp_path):
    bad = tmp_path / "empty.npz"
    bad.write_bytes(b"")
    refused(bad)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_flipped_bytes_are_refused(good_file, tmp_path, where):
    raw = bytearray(good_file.read_bytes())
    at = int(len(raw) * where)
    raw[at:at + 4] = bytes(b ^ 0xFF for b in raw[at:at + 4])
    bad = tmp_path / "corrupted.npz"
    bad.write_bytes(bytes(raw))
    refused(bad)


def test_foreign_npz_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    bad = tmp_path / "foreign.npz"
    np.savez(bad, a=rng.standard_normal(10), b=rng.integers(0, 5, size=(3, 3)))
    refused(bad)
    # Even one that has a params array of the right kind.
    np.savez(bad, params=make_net().params)
    refused(bad)


def test_non_zip_file_is_refused(tmp_path):
    bad = tmp_path / "text.npz"
    bad.write_text("this is not a zip archive\n" * 20)
    refused(bad)
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    refused(noise)


def test_npy_file_is_refused(tmp_path):
    """np.load returns a bare array for .npy: still a ValueError, not a TypeError."""
    bad = tmp_path / "array.npy"
    np.save(bad, make_net().params)
    refused(bad)


@pytest.mark.parametrize("meta", [[1, 2, 3], 3.5, "fastbp"], ids=["list", "number", "string"])
def test_meta_that_is_not_a_json_object_is_refused(tmp_path, meta):
    """Valid JSON that is not an object: a ValueError, not an AttributeError."""
    bad = tmp_path / "odd-meta.npz"
    np.savez(bad, meta=np.array(json.dumps(meta)), params=make_net().params)
    refused(bad)


def test_meta_that_is_not_json_is_refused(tmp_path):
    bad = tmp_path / "not-json.npz"
    np.savez(bad, meta=np.array("{format: fastbp"), params=make_net().params)
    refused(bad)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(format="kerasbp"), "format"),
    (lambda a, m: m.pop("format"), "format"),
    (lambda a, m: m.update(version=2), "version"),
    (lambda a, m: m.update(version=0), "version"),
    (lambda a, m: m.update(version="1"), "version"),
    (lambda a, m: m.pop("version"), "version"),
    (lambda a, m: a.update(params=a["params"][:-1]), "params"),
    (lambda a, m: a.update(params=np.concatenate([a["params"], [0.0]])), "params"),
    (lambda a, m: a.update(params=a["params"].reshape(1, -1)), "params"),
    (lambda a, m: a.update(params=a["params"].astype(np.float32)), "params"),
    (lambda a, m: m.update(sizes=[40, 51, 10]), "params"),
    (lambda a, m: m.update(dtype="float16"), "dtype"),
    (lambda a, m: m.update(activations=["tanh", "not_an_activation"]), "activation"),
    (lambda a, m: m.update(activations=["tanh"]), "activations"),
    (lambda a, m: m.pop("sizes"), "sizes"),
    (lambda a, m: a.pop("params"), "params"),
], ids=["other-format", "no-format", "version-2", "version-0", "version-str", "no-version",
        "params-short", "params-long", "params-2d", "params-dtype", "sizes-mismatch",
        "bad-dtype", "bad-activation", "activation-count", "no-sizes", "no-params"])
def test_inconsistent_contents_are_refused(good_file, tmp_path, change, message):
    bad = rewrite(good_file, tmp_path / "bad.npz", change)
    assert message in refused(bad)


def test_nonfinite_params_are_refused(good_file, tmp_path):
    def poison(arrays, meta):
        arrays["params"] = arrays["params"].copy()
        arrays["params"][7] = np.nan
    refused(rewrite(good_file, tmp_path / "nan.npz", poison))


def test_optimizer_state_of_the_wrong_shape_is_refused(tmp_path):
    net, opt = trained()
    path = tmp_path / "opt.npz"
    net.save(path, optimizer=opt)

    def shrink(arrays, meta):
        arrays["optimizer_state"] = arrays["optimizer_state"][:, :-1]
    bad = rewrite(path, tmp_path / "bad-opt.npz", shrink)
    with pytest.raises(ValueError, match="optimizer_state"):
        fastbp.load(bad, optimizer=True)

    def unknown(arrays, meta):
        meta["optimizer"]["config"]["type"] = "Adagrad"
    with pytest.raises(ValueError, match="Adagrad"):
        fastbp.load(rewrite(path, tmp_path / "bad-type.npz", unknown), optimizer=True)


# --- pickling -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_pickle_round_trip(dtype):
    net, _ = trained(dtype)
    X, _ = data(n=25, seed=3, dtype=dtype)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        clone = pickle.loads(pickle.dumps(net, protocol=protocol))
        assert clone.sizes == net.sizes and clone.dtype == net.dtype
        assert np.array_equal(clone.forward(X), net.forward(X))
        assert np.array_equal(clone.params, net.params)
    # The clone trains on independently and identically.
    clone = pickle.loads(pickle.dumps(net))
    for n in (net, clone):
        n.train_step(X, data(n=25, seed=3)[1], fastbp.SGD(lr=0.1), loss="cross_entropy")
    assert np.array_equal(clone.params, net.params)
    clone.params[0] += 1
    assert not np.array_equal(clone.params, net.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_in_spawned_processes(dtype):
    net, _ = trained(dtype)
    chunks = [data(n=n, seed=s, dtype=dtype)[0] for n, s in ((17, 5), (40, 6))]
    expected = [net.forward(X) for X in chunks]
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        outputs = pool.map(net.forward, chunks)
    for y, e in zip(outputs, expected):
        assert y.dtype == np.dtype(dtype)
        assert np.array_equal(y, e)
