"""Tests for skhda.datasets."""

from __future__ import annotations

import gzip
import os
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from scipy.spatial.distance import pdist
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import Bunch

from skhda.datasets import (
    load_benchmark_pair,
    load_digits_transfer,
    load_mnist_idx,
    load_npz_dataset,
    load_office_caltech_mat,
    load_usps_h5,
    make_domain_shift_blobs,
)


def _data_dir() -> Path:
    env = os.environ.get("SKHDA_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------- digits transfer


@pytest.mark.parametrize(
    "setting, shapes",
    [
        ("disjoint", ((901, 64), (896, 64))),
        ("shared", ((898, 64), (899, 64))),
        ("heterogeneous", ((898, 64), (899, 16))),
    ],
)
def test_digits_transfer_shapes_dtypes(setting, shapes):
    Xs, ys, Xt, yt = load_digits_transfer(setting)
    assert (Xs.shape, Xt.shape) == shapes
    assert Xs.dtype == Xt.dtype == np.float64
    assert ys.dtype == yt.dtype == np.int64
    assert ys.shape == (Xs.shape[0],) and yt.shape == (Xt.shape[0],)
    assert np.all(np.isfinite(Xs)) and np.all(np.isfinite(Xt))


def test_digits_transfer_disjoint_labels():
    Xs, ys, Xt, yt = load_digits_transfer("disjoint")
    assert set(np.unique(ys)) == {0, 1, 2, 3, 4}
    assert set(np.unique(yt)) == {5, 6, 7, 8, 9}  # original labels kept
    assert set(ys).isdisjoint(set(yt))
    assert Xs.min() >= 0 and Xs.max() <= 16


@pytest.mark.parametrize("setting", ["shared", "heterogeneous"])
def test_digits_transfer_shared_label_sets(setting):
    _, ys, _, yt = load_digits_transfer(setting)
    assert set(np.unique(ys)) == set(np.unique(yt)) == set(range(10))


def test_digits_transfer_as_images():
    Xs, _, Xt, _ = load_digits_transfer("disjoint", as_images=True)
    assert Xs.shape[1:] == Xt.shape[1:] == (8, 8)
    Xs, _, Xt, _ = load_digits_transfer("heterogeneous", as_images=True)
    assert Xs.shape[1:] == (8, 8) and Xt.shape[1:] == (4, 4)
    flat = load_digits_transfer("shared")[2]
    imgs = load_digits_transfer("shared", as_images=True)[2]
    np.testing.assert_array_equal(imgs.reshape(len(imgs), -1), flat)


def test_digits_transfer_bunch():
    data = load_digits_transfer("heterogeneous", return_X_y=False)
    assert isinstance(data, Bunch)
    assert data.setting == "heterogeneous"
    assert isinstance(data.DESCR, str) and "pooled" in data.DESCR
    Xs, ys, Xt, yt = load_digits_transfer("heterogeneous")
    np.testing.assert_array_equal(data.X_source, Xs)
    np.testing.assert_array_equal(data.y_target, yt)


@pytest.mark.parametrize("setting", ["shared", "heterogeneous"])
def test_digits_transfer_reproducible(setting):
    a = load_digits_transfer(setting, random_state=3)
    b = load_digits_transfer(setting, random_state=3)
    c = load_digits_transfer(setting, random_state=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[2], c[2])


def test_digits_transfer_shared_has_real_shift():
    Xs, ys, Xt, yt = load_digits_transfer("shared", random_state=0)
    half = Xs.shape[0] // 2
    clf = LogisticRegression(max_iter=2000).fit(Xs[:half], ys[:half])
    in_domain = clf.score(Xs[half:], ys[half:])
    cross_domain = clf.score(Xt, yt)
    # Measured: about 0.95 in-domain vs about 0.40-0.47 on the target.
    assert in_domain > 0.9
    assert in_domain - cross_domain > 0.25


def test_digits_transfer_heterogeneous_target_learnable():
    _, _, Xt, yt = load_digits_transfer("heterogeneous")
    half = Xt.shape[0] // 2
    clf = KNeighborsClassifier(n_neighbors=5).fit(Xt[:half], yt[:half])
    assert clf.score(Xt[half:], yt[half:]) > 0.75  # measured about 0.88


@pytest.mark.parametrize("bad", ["Disjoint", "other", None, 1])
def test_digits_transfer_bad_setting(bad):
    with pytest.raises(ValueError, match="setting"):
        load_digits_transfer(bad)


# ---------------------------------------------------------------- synthetic blobs


@pytest.mark.parametrize("n_features", [2, 5])
def test_blobs_shapes_and_sizes(n_features):
    Xs, ys, Xt, yt = make_domain_shift_blobs(
        4, 103, n_features=n_features, n_target_samples=50, random_state=0
    )
    assert Xs.shape == (103, n_features) and Xt.shape == (50, n_features)
    assert ys.dtype == yt.dtype == np.int64
    assert np.bincount(ys).tolist() == [26, 26, 26, 25]
    assert np.bincount(yt).tolist() == [13, 13, 12, 12]


@pytest.mark.parametrize("seed", range(5))
def test_blobs_min_center_distance_both_domains(seed):
    *_, cs, ct = make_domain_shift_blobs(
        8, 200, min_center_distance=6.0, random_state=seed, return_centers=True
    )
    assert cs.shape == ct.shape == (8, 2)
    assert pdist(cs).min() >= 6.0
    assert pdist(ct).min() >= 6.0
    assert np.all((cs >= -10) & (cs <= 10))
    assert not np.allclose(cs, ct)


def test_blobs_points_follow_centres():
    Xs, ys, Xt, yt, cs, ct = make_domain_shift_blobs(
        3, 3000, cov_scale=0.5, random_state=1, return_centers=True
    )
    for k in range(3):
        assert np.linalg.norm(Xs[ys == k].mean(0) - cs[k]) < 0.2
        assert np.linalg.norm(Xt[yt == k].mean(0) - ct[k]) < 0.2
        # same covariance in both domains
        np.testing.assert_allclose(
            np.cov(Xs[ys == k].T), np.cov(Xt[yt == k].T), rtol=0.3, atol=0.05
        )


def test_blobs_reproducible():
    a = make_domain_shift_blobs(random_state=42)
    b = make_domain_shift_blobs(random_state=np.random.RandomState(42))
    c = make_domain_shift_blobs(random_state=43)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_blobs_impossible_raises():
    with pytest.raises(ValueError, match="min_center_distance"):
        make_domain_shift_blobs(3, 30, min_center_distance=100.0, random_state=0)
    with pytest.raises(ValueError, match="min_center_distance"):
        make_domain_shift_blobs(40, 100, center_box=(0, 10), random_state=0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_samples": 2}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"n_target_samples": 1}, "n_target_samples"),
        ({"cov_scale": -1.0}, "cov_scale"),
        ({"shift_scale": -1.0}, "shift_scale"),
        ({"center_box": (5, 5)}, "center_box"),
        ({"center_box": 3}, "center_box"),
    ],
)
def test_blobs_invalid_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_domain_shift_blobs(**{"n_clusters": 3, **kwargs})


# ---------------------------------------------------------------- local file loaders


def _write_idx(path: Path, arr: np.ndarray, *, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim)
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_idx_roundtrip(tmp_path, compress):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(7, 28, 28)).astype(np.uint8)
    y = rng.randint(0, 10, size=7).astype(np.uint8)
    suffix = ".gz" if compress else ""
    ip, lp = tmp_path / f"img-idx3-ubyte{suffix}", tmp_path / f"lab-idx1-ubyte{suffix}"
    _write_idx(ip, X, compress=compress)
    _write_idx(lp, y, compress=compress)
    X2, y2 = load_mnist_idx(ip, str(lp))
    assert X2.dtype == np.uint8 and y2.dtype == np.int64
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_load_mnist_idx_errors(tmp_path):
    ip, lp = tmp_path / "img", tmp_path / "lab"
    _write_idx(ip, np.zeros((3, 4, 4), np.uint8), compress=False)
    _write_idx(lp, np.zeros(2, np.uint8), compress=True)
    with pytest.raises(FileNotFoundError, match="images_path"):
        load_mnist_idx(tmp_path / "missing", lp)
    with pytest.raises(FileNotFoundError, match="labels_path"):
        load_mnist_idx(ip, tmp_path / "missing")
    with pytest.raises(ValueError, match="labels"):
        load_mnist_idx(ip, lp)
    bad = tmp_path / "bad"
    bad.write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="IDX"):
        load_mnist_idx(bad, lp)
    truncated = tmp_path / "trunc"
    truncated.write_bytes(ip.read_bytes()[:-5])
    with pytest.raises(ValueError, match="images_path"):
        load_mnist_idx(truncated, lp)


def test_load_usps_h5_roundtrip(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.RandomState(0)
    path = tmp_path / "usps.h5"
    with h5py.File(path, "w") as fh:
        for name, n in (("train", 5), ("test", 3)):
            grp = fh.create_group(name)
            grp.create_dataset("data", data=rng.rand(n, 256))
            grp.create_dataset("target", data=rng.randint(0, 10, n))
    X, y = load_usps_h5(path)
    assert X.shape == (8, 16, 16) and X.dtype == np.float32 and y.dtype == np.int64
    assert load_usps_h5(path, split="train")[0].shape == (5, 16, 16)
    assert load_usps_h5(path, split="test")[1].shape == (3,)


class _FakeH5File(dict):
    """Stand-in for ``h5py.File``: a dict of groups of numpy arrays."""

    def __init__(self, path, mode="r"):
        rng = np.random.RandomState(0)
        super().__init__(
            train={"data": rng.rand(4, 256), "target": np.arange(4)},
            test={"data": rng.rand(2, 256), "target": np.arange(2)},
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_load_usps_h5_with_fake_h5py(tmp_path, monkeypatch):
    fake = types.ModuleType("h5py")
    fake.File = _FakeH5File
    monkeypatch.setitem(sys.modules, "h5py", fake)
    path = tmp_path / "usps.h5"
    path.write_bytes(b"")
    X, y = load_usps_h5(path)
    assert X.shape == (6, 16, 16) and X.dtype == np.float32
    assert y.tolist() == [0, 1, 2, 3, 0, 1] and y.dtype == np.int64
    assert load_usps_h5(path, split="test")[0].shape == (2, 16, 16)


def test_load_usps_h5_missing_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes ``import h5py`` fail
    path = tmp_path / "usps.h5"
    path.write_bytes(b"")
    with pytest.raises(ImportError, match="h5py"):
        load_usps_h5(path)


def test_load_usps_h5_errors(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_usps_h5(tmp_path / "usps.h5", split="val")
    with pytest.raises(FileNotFoundError, match="path"):
        load_usps_h5(tmp_path / "usps.h5")


@pytest.mark.parametrize("feat_key", ["fts", "feas", "whatever"])
def test_load_office_caltech_mat_roundtrip(tmp_path, feat_key):
    rng = np.random.RandomState(0)
    X = rng.rand(12, 20)
    y = np.arange(12) % 10 + 1  # 1-based, as in the GFK files
    path = tmp_path / "amazon_SURF_L10.mat"
    savemat(path, {feat_key: X, "labels": y.reshape(-1, 1).astype(np.float64)})
    X2, y2 = load_office_caltech_mat(path)
    assert X2.dtype == np.float32 and y2.dtype == np.int64
    np.testing.assert_allclose(X2, X, rtol=1e-6)
    np.testing.assert_array_equal(y2, y - 1)
    np.testing.assert_array_equal(load_office_caltech_mat(path, one_based=False)[1], y)


def test_load_office_caltech_mat_transposed_and_gnd(tmp_path):
    X = np.random.RandomState(0).rand(20, 6)  # (n_features, n_samples)
    path = tmp_path / "d.mat"
    savemat(path, {"fts": X, "gnd": np.array([[1, 2, 3, 1, 2, 3]])})
    X2, y2 = load_office_caltech_mat(path)
    assert X2.shape == (6, 20)
    assert y2.tolist() == [0, 1, 2, 0, 1, 2]


def test_load_office_caltech_mat_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        load_office_caltech_mat(tmp_path / "missing.mat")
    path = tmp_path / "nolabels.mat"
    savemat(path, {"fts": np.ones((3, 2))})
    with pytest.raises(ValueError, match="label"):
        load_office_caltech_mat(path)
    path = tmp_path / "ambiguous.mat"
    savemat(path, {"a": np.ones((3, 2)), "b": np.ones((3, 2)), "y": np.ones(3)})
    with pytest.raises(ValueError, match="feature"):
        load_office_caltech_mat(path)
    path = tmp_path / "garbage.mat"
    path.write_bytes(b"garbage" * 30)
    with pytest.raises(ValueError, match="path"):
        load_office_caltech_mat(path)


def test_load_npz_dataset_and_pair(tmp_path):
    rng = np.random.RandomState(0)
    path = tmp_path / "bench.npz"
    domain = np.array(["a"] * 5 + ["b"] * 3)
    np.savez_compressed(
        path,
        X=rng.rand(8, 4).astype(np.float32),
        y=np.arange(8) % 2,
        domain=domain,
        class_names=np.array(["zero", "one"]),
        split=np.array("test"),
    )
    data = load_npz_dataset(path)
    assert isinstance(data, Bunch)
    assert set(data) == {"X", "y", "domain", "class_names", "split"}
    assert data.split == "test"
    assert data.X.shape == (8, 4) and data.X.dtype == np.float32
    Xs, ys, Xt, yt = load_benchmark_pair(path, "a", "b")
    assert Xs.shape == (5, 4) and Xt.shape == (3, 4)
    np.testing.assert_array_equal(yt, [1, 0, 1])
    with pytest.raises(ValueError, match="target"):
        load_benchmark_pair(data, "a", "c")
    with pytest.raises(ValueError, match="by"):
        load_benchmark_pair(data, "a", "b", by="alphabet")


def test_load_npz_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        load_npz_dataset(tmp_path / "missing.npz")
    path = tmp_path / "noy.npz"
    np.savez(path, X=np.ones((2, 2)))
    with pytest.raises(ValueError, match="y"):
        load_npz_dataset(path)
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.ones((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="path"):
        load_npz_dataset(path)
    path = tmp_path / "single.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match="npz"):
        load_npz_dataset(path)


# ---------------------------------------------------------------- real local benchmark files

_EXPECTED = {
    "mnist_test.npz": ((10000, 28, 28), 10),
    "usps.npz": ((9298, 16, 16), 10),
    "office_caltech10_surf.npz": ((2533, 800), 10),
    "office_caltech10_decaf6_dw.npz": ((452, 4096), 10),
    "omniglot_background_small.npz": ((4840, 28, 28), 242),
}


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_real_npz_files(name):
    path = _data_dir() / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    data = load_npz_dataset(path)
    shape, n_classes = _EXPECTED[name]
    assert data.X.shape == shape
    assert data.y.dtype == np.int64 and data.y.shape == (shape[0],)
    assert np.unique(data.y).tolist() == list(range(n_classes))


def test_real_office_caltech_pair():
    path = _data_dir() / "office_caltech10_surf.npz"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    Xs, ys, Xt, yt = load_benchmark_pair(path, "amazon", "webcam")
    assert Xs.shape == (958, 800) and Xt.shape == (295, 800)
    assert set(ys) == set(yt) == set(range(10))
