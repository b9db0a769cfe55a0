"""The estimator contract shared by every skhda estimator (see the user guide).

:class:`BaseDAEstimator` validates ``fit(X_source, y_source, X_target,
y_target)`` once, in one place, and hands a method a clean :class:`DAData`.
:class:`BaseDeepDA` adds what deep methods share: device and seed handling,
per-domain encoders (heterogeneous features), one skorch net per training
stage, and batched inference.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import (
    ClassifierTags,
    TransformerTags,
    check_array,
    check_random_state,
    column_or_1d,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from ._cache import cacheable_seed, cached, rng_states, set_rng_states, stage_key
from ._training import DomainDataset, batched_apply, best_of, make_net
from ._validation import (
    HasMethods,
    Integral,
    Interval,
    check_positive_ints,
    non_negative_int,
    positive_int,
    positive_real,
)
from .metrics import cluster_accuracy, label_kinds
from .nn.encoders import DOMAINS, DomainDecoder, DomainEncoder, make_decoder, make_encoder
from .nn.layers import TwoViewContrast

__all__ = [
    "BaseDAEstimator",
    "Capabilities",
    "BaseDeepDA",
    "DAData",
    "DeepMixin",
    "Domain",
    "LogitsClassifierMixin",
    "with_parameters_doc",
]

UNLABELLED = -1


class Domain:
    """One domain's data, in a holder that scikit-learn never slices.

    Pass ``X_target=Domain(Xt, y=yt)`` to ``fit``, :class:`GridSearchCV`
    or :func:`cross_validate`: scikit-learn slices every fit parameter whose
    length equals ``len(X_source)`` by the source fold, which would silently
    drop target rows when the two domains happen to have the same size.
    :class:`Domain` has no length, so every fit sees all of the target.

    Parameters
    ----------
    X : array-like
        The domain's rows.
    y : array-like, optional
        Labels, ``-1`` for unlabelled rows (the ``y_target`` of ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> from skhda import Domain
    >>> d = Domain(np.zeros((4, 2)), y=[0, -1, 1, -1])
    >>> d.X.shape
    (4, 2)
    """

    __slots__ = ("X", "y")

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __repr__(self):
        shape = getattr(self.X, "shape", None)
        return f"Domain(X={'shape ' + str(shape) if shape is not None else type(self.X).__name__}" \
               f"{', y=...' if self.y is not None else ''})"

    def __getstate__(self):
        return {"X": self.X, "y": self.y}

    def __setstate__(self, state):
        self.X, self.y = state["X"], state["y"]


@dataclass
class DAData:
    """Validated fit data: float32 arrays, images as ``(n, c, h, w)``.

    ``y_target`` holds ``-1`` for unlabelled rows; ``labelled_target`` is
    the boolean mask of labelled ones.
    """

    X_source: np.ndarray
    y_source: np.ndarray | None
    X_target: np.ndarray | None
    y_target: np.ndarray | None
    shapes: dict = field(default_factory=dict)

    @property
    def heterogeneous(self):
        return self.X_target is not None and self.shapes["source"] != self.shapes["target"]

    def images(self, domain):
        """Whether ``domain``'s rows are images ``(c, h, w)`` (else feature vectors)."""
        return len(self.shapes[domain]) == 3

    @property
    def labelled_target(self):
        if self.y_target is None:
            return np.zeros(0 if self.X_target is None else len(self.X_target), dtype=bool)
        return self.y_target != UNLABELLED

    @property
    def has_target_labels(self):
        return bool(self.labelled_target.any())

    def source_classes(self):
        """``(classes, codes)``: the sorted source classes and each source row's index in them."""
        classes, codes = np.unique(self.y_source, return_inverse=True)
        return classes, codes.astype(np.int64)

    def target_classes(self):
        """``(classes, codes)``: the sorted labelled target classes, each labelled row's index."""
        classes, codes = np.unique(self.y_target[self.labelled_target], return_inverse=True)
        return classes, codes.astype(np.int64)

    def labelled_codes(self, classes):
        """Each labelled target row's index in the sorted ``classes``."""
        labels = self.y_target[self.labelled_target]
        return np.searchsorted(np.asarray(classes), labels).astype(np.int64)

    def dataset(self, source="X", target="X", labelled=None, extra=None,
                order=("source", "target", "labelled")):
        """The :class:`~skhda.DomainDataset` a method trains on, from the validated data.

        Parameters
        ----------
        source : {"X", "Xy", None}, default="X"
            The source part: rows, or rows and their class index among
            :meth:`source_classes`; None: no source part.
        target : {"X", "Xy", None}, default="X"
            The target part: all rows, or only the labelled rows with their
            class index among ``labelled``; None: no target part.
        labelled : array-like, optional
            The classes labelled target rows are encoded in (e.g. the source
            classes, or :meth:`target_classes`). With ``target="X"`` they form
            a ``labelled`` part of their own.
        extra : dict, optional
            More arrays per part, ``{"target": {"g": ...}}``.
        order : sequence of str, default=("source", "target", "labelled")
            The parts' order, in which the batch iterator draws their
            permutations (so a seeded fit depends on it).

        Every part also has the row indices (``index``) into its domain's
        arrays (for the labelled part, into ``X_target``).
        """
        parts = {}
        if source is not None:
            parts["source"] = {"X": self.X_source}
            if source == "Xy":
                parts["source"]["y"] = self.source_classes()[1]
        mask = self.labelled_target
        if target == "X":
            parts["target"] = {"X": self.X_target}
        if labelled is not None:
            rows = np.flatnonzero(mask)
            part = {"X": self.X_target[mask], "y": self.labelled_codes(labelled), "index": rows}
            parts["target" if target == "Xy" else "labelled"] = part
        for name, arrays in (extra or {}).items():
            parts[name] = {**parts.get(name, {}), **arrays}
        names = [n for n in order if n in parts] + [n for n in parts if n not in order]
        return DomainDataset(**{name: parts[name] for name in names})


def reset_fitted_state(est):
    """Delete every fitted (``name_``) attribute of ``est``: unfitted for ``check_is_fitted``."""
    for name in [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]:
        delattr(est, name)


def _named_error(name, exc):
    msg = str(exc)
    if name not in msg:
        msg = f"{name}: {msg}"
    return type(exc)(msg)


def check_X(X, name, input_shape=None):
    """Validate one domain's rows; return float32 ``(n, d)`` or ``(n, c, h, w)``.

    Never returns the caller's array: a new array is made whenever the dtype
    or layout differs, and nothing downstream writes in place.
    """
    if X is None:
        raise ValueError(f"{name} is required.")
    if isinstance(X, Domain):
        raise TypeError(f"{name}: pass the rows, not a Domain holder.")
    try:
        X = check_array(
            X, accept_sparse=False, allow_nd=True, dtype=(np.float32, np.float64),
            ensure_all_finite=True, input_name=name, ensure_min_samples=1,
        )
    except (ValueError, TypeError) as exc:
        raise _named_error(name, exc) from None
    if X.ndim == 2 and input_shape is not None and len(np.atleast_1d(input_shape)) > 1:
        shape = tuple(int(s) for s in np.atleast_1d(input_shape))
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or math.prod(shape) != X.shape[1]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, which do not fit input_shape={input_shape}."
            )
        X = X.reshape(len(X), *shape)
    elif X.ndim == 3:
        X = X[:, None, :, :]
    elif X.ndim > 4:
        raise ValueError(
            f"{name} must be 2-D (n, features), 3-D (n, h, w) or 4-D (n, c, h, w); "
            f"got {X.ndim}-D."
        )
    wide = X.dtype != np.float32
    with np.errstate(over="ignore"):
        X = np.array(X, dtype=np.float32, order="C", copy=True)
    if wide and not np.isfinite(X).all():   # finite as float64, infinite as float32
        raise ValueError(
            f"{name} has values beyond the float32 range (|x| > {np.finfo(np.float32).max:.3g}), "
            "which skhda's float32 networks cannot hold; scale the inputs (e.g. StandardScaler)."
        )
    return X


def check_X_shape(X, name, expected, owner, input_shape=None, where=""):
    """:func:`check_X`, then reshape flat images to ``expected`` and check the sample shape."""
    arr = check_X(X, name, input_shape if len(expected) == 3 else None)
    if arr.ndim == 2 and len(expected) == 3 and arr.shape[1] == math.prod(expected):
        arr = arr.reshape(len(arr), *expected)
    if arr.shape[1:] != tuple(expected):
        raise ValueError(
            f"{name} has {math.prod(arr.shape[1:])} features, but {owner} is expecting "
            f"{math.prod(expected)} features as input{where} (sample shape {tuple(expected)}, "
            f"got {arr.shape[1:]})."
        )
    return arr


def _check_y(y, name, n_rows, rows_name):
    try:
        y = column_or_1d(np.asarray(y), warn=True)
    except ValueError as exc:
        raise ValueError(f"{name} must be 1-D: {exc}") from None
    if len(y) != n_rows:
        raise ValueError(
            f"{name} has {len(y)} entries but {rows_name} has {n_rows} rows; they must match."
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity.")
        if np.any(y != np.round(y)):
            raise ValueError(f"{name} must hold class labels, got continuous values.")
        y = y.astype(np.int64)
    if type_of_target(y, input_name=name) not in ("binary", "multiclass"):
        raise ValueError(
            f"{name} must hold class labels (Unknown label type: "
            f"{type_of_target(y, input_name=name)})."
        )
    return y.copy()


def _check_string_y_target(y_target, n_rows):
    """``y_target`` of string labels as an object array with ``-1`` for unlabelled rows.

    The unlabelled marker is the integer ``-1`` in an object array (as in
    scikit-learn's semi-supervised estimators) or the string ``"-1"`` (what
    ``np.array([-1, "a"])`` makes of it). None when ``y_target`` holds no strings.
    """
    y = np.asarray(y_target)
    if y.dtype.kind not in "OUS" or y.ndim == 0:
        return None
    y = column_or_1d(y.astype(object) if y.dtype.kind == "S" else y, warn=True).astype(object)
    if not any(isinstance(v, str) for v in y):
        return None
    if len(y) != n_rows:
        raise ValueError(
            f"y_target has {len(y)} entries but X_target has {n_rows} rows; they must match."
        )
    unlabelled = np.fromiter(
        ((isinstance(v, str) and v == "-1") or (isinstance(v, numbers.Real)
                                                 and not isinstance(v, bool) and v == -1)
         for v in y), dtype=bool, count=len(y))
    kinds = label_kinds(y[~unlabelled])
    if len(kinds) > 1:
        raise ValueError(
            f"y_target mixes label types ({' and '.join(sorted(kinds))}); use strings for the "
            "labelled rows and -1 (or '-1') for the unlabelled ones."
        )
    out = y.copy()
    out[unlabelled] = UNLABELLED
    return out


def _unpack(X, y, name):
    if isinstance(X, Domain):
        if y is not None and X.y is not None:
            raise ValueError(f"Labels given twice: in {name}=Domain(..., y=...) and y_{name[2:]}.")
        return X.X, (X.y if X.y is not None else y)
    return X, y


@dataclass(frozen=True)
class Capabilities:
    """What an estimator needs from the fit data, declared per instance.

    Attributes
    ----------
    requires_target : bool, default=True
        ``X_target`` is needed (``ValueError`` when missing).
    requires_source_labels : bool, default=True
        ``y_source`` is needed, with at least 2 classes.
    label_space : {"disjoint", "shared"}, default="disjoint"
        ``"shared"``: target labels are source classes (``predict`` returns
        them); ``"disjoint"``: target classes unrelated to the source
        (``predict`` returns cluster ids).
    heterogeneous : bool, default=True
        Source and target feature counts may differ.
    """

    requires_target: bool = True
    requires_source_labels: bool = True
    label_space: str = "disjoint"
    heterogeneous: bool = True


class BaseDAEstimator(BaseEstimator):
    """Base of every skhda estimator: ``fit(X_source, y_source, X_target, y_target)``.

    Subclasses implement ``_fit(data)`` and ``predict``; they declare what
    they need from the data in :meth:`_capabilities` (a :class:`Capabilities`,
    per instance: it may depend on the parameters) and their parameters in
    ``_parameter_constraints``.
    """

    def _capabilities(self):
        """What this estimator needs and supports (see :class:`Capabilities`)."""
        return Capabilities()

    #: ``{parameter: [constraints]}`` (scikit-learn's ``Interval`` / ``StrOptions`` ...,
    #: imported from :mod:`skhda._validation`); a subclass merges its base's table,
    #: ``{**Base._parameter_constraints, ...}``, and ``fit`` validates it first.
    #: Entries for parameters an estimator does not have are ignored.
    _parameter_constraints: dict = {
        "n_clusters": [None, Interval(Integral, 1, None, closed="left")],
        "clusterer": [None, HasMethods(["fit", "fit_predict"])],
        "random_state": ["random_state"],
    }

    # ------------------------------------------------------------------ fit
    def _input_shape_for(self, domain):
        shape = getattr(self, "input_shape", None)
        if isinstance(shape, dict):
            return shape.get(domain)
        return shape

    def _validate_fit(self, X_source, y_source, X_target, y_target):
        caps = self._capabilities()
        X_source, y_source = _unpack(X_source, y_source, "X_source")
        X_target, y_target = _unpack(X_target, y_target, "X_target")
        Xs = check_X(X_source, "X_source", self._input_shape_for("source"))
        ys = None
        if y_source is not None:
            ys = _check_y(y_source, "y_source", len(Xs), "X_source")
            if caps.requires_source_labels and len(np.unique(ys)) < 2:
                raise ValueError(
                    f"y_source has 1 class ({ys[0]!r}); {type(self).__name__} "
                    "needs at least 2 source classes."
                )
        elif caps.requires_source_labels:
            raise ValueError(
                # the second sentence is one scikit-learn's check_requires_y_none accepts
                f"y_source is required by {type(self).__name__} (it learns from the source "
                "labels). Expected array-like (array or non-string sequence), got None."
            )
        Xt = yt = None
        if X_target is None:
            if caps.requires_target:
                raise ValueError(
                    f"X_target is required by {type(self).__name__} (it adapts to the "
                    "target domain); pass X_target=... or X_target=Domain(Xt)."
                )
            if y_target is not None:
                raise ValueError("y_target was given without X_target.")
        else:
            Xt = check_X(X_target, "X_target", self._input_shape_for("target"))
            if y_target is not None:
                yt = self._check_y_target(y_target, len(Xt), ys)
        shapes = {"source": Xs.shape[1:], "target": (Xt if Xt is not None else Xs).shape[1:]}
        data = DAData(Xs, ys, Xt, yt, shapes)
        if data.heterogeneous and not caps.heterogeneous:
            raise ValueError(
                f"X_target rows have shape {shapes['target']} and X_source rows "
                f"{shapes['source']}: {type(self).__name__} needs the same features "
                "in both domains."
            )
        k = self._n_clusters_expected(data)
        if k is not None and Xt is not None and len(Xt) < k:
            raise ValueError(f"X_target has {len(Xt)} rows, fewer than the {k} clusters asked for.")
        return data

    def _check_y_target(self, y_target, n_rows, y_source):
        yt = _check_string_y_target(y_target, n_rows)
        if yt is None:
            yt = _check_y(y_target, "y_target", n_rows, "X_target")
        labelled = yt != UNLABELLED
        if (y_source is not None and labelled.any()
                and self._capabilities().label_space == "shared"):
            kinds = label_kinds(yt[labelled]) | label_kinds(y_source)
            if len(kinds) > 1:
                kinds = " and ".join(sorted(kinds))
                raise ValueError(
                    f"y_target and y_source hold labels of different types ({kinds}); "
                    f"{type(self).__name__} predicts source classes, so the labelled target "
                    "rows need the same label type."
                )
        if yt.dtype.kind in "iu" and np.any(yt[labelled] < 0):
            raise ValueError(
                "y_target has negative labels other than -1 (the marker of unlabelled rows)."
            )
        label_space = self._capabilities().label_space
        if label_space == "shared" and y_source is not None:
            unknown = np.setdiff1d(yt[labelled], y_source)
            if len(unknown):
                raise ValueError(
                    f"y_target has labels {unknown.tolist()[:5]} that are not source classes; "
                    f"{type(self).__name__} predicts in the source label space."
                )
        k = getattr(self, "n_clusters", None)
        if label_space == "disjoint" and isinstance(k, numbers.Integral):
            n_cls = len(np.unique(yt[labelled]))
            if n_cls > k:
                raise ValueError(
                    f"y_target has {n_cls} labelled classes, more than n_clusters={k}."
                )
        if labelled.any() and yt.dtype.kind not in "iuO" and yt.dtype.kind != "U":
            raise TypeError("y_target must hold integer or string labels.")
        return yt

    def _n_clusters_requested(self, data):
        k = getattr(self, "n_clusters", None)
        return None if k is None else int(k)

    def _n_clusters(self, data):
        """``n_clusters``, or by default the number of source classes."""
        k = self._n_clusters_requested(data)
        if k is not None:
            return k
        if data.y_source is not None:
            return len(np.unique(data.y_source))
        if "n_clusters" in self.get_params():
            raise ValueError(
                f"n_clusters is required by {type(self).__name__} without y_source."
            )
        raise ValueError(
            f"{type(self).__name__} without y_source needs a clusterer with its number of "
            "clusters set, e.g. clusterer=KMeans(n_clusters=5)."
        )

    def _n_clusters_expected(self, data):
        """The number of clusters a fit will ask for, when it is known before training."""
        k = self._n_clusters_requested(data)
        clusterer = getattr(self, "clusterer", None)
        if k is None and clusterer is not None and hasattr(clusterer, "get_params"):
            k = clusterer.get_params().get("n_clusters")
            return k if isinstance(k, numbers.Integral) else None
        if k is None and clusterer is None and data.y_source is not None and (
                "n_clusters" in self.get_params() or "clusterer" in self.get_params()):
            k = len(np.unique(data.y_source))
        return k

    def fit(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit on labelled source data and (unlabelled or partly labelled) target data.

        Parameters
        ----------
        X_source : array-like of shape (n_source, ...)
            Source rows: (n, d) vectors, or images as (n, h, w), (n, c, h, w)
            or flat with ``input_shape``.
        y_source : array-like of shape (n_source,), optional
            Source labels.
        X_target : array-like or :class:`Domain`, optional
            Target rows (any feature count: a separate input encoder maps
            them to the shared space when it differs from the source's).
        y_target : array-like of shape (n_target,), optional
            Target labels, ``-1`` for unlabelled rows.

        Returns
        -------
        self
        """
        self._reset_fitted_state()
        self._validate_params()
        data = self._validate_fit(X_source, y_source, X_target, y_target)
        self._check_params_vs_input(data)
        self.input_shapes_ = dict(data.shapes)
        self.n_features_in_ = int(math.prod(data.shapes["source"]))
        try:
            self._fit(data)
        except BaseException:
            self._reset_fitted_state()
            raise
        return self

    def _reset_fitted_state(self):
        """Forget every fitted attribute, so that no stale one survives a (failed) refit."""
        reset_fitted_state(self)

    def fit_predict(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit, then return the labels of the target rows."""
        self.fit(X_source, y_source, X_target, y_target)
        X, _ = _unpack(X_target, None, "X_target")
        if X is None:
            X, _ = _unpack(X_source, None, "X_source")
        return self.predict(X)

    def fit_transform(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit, then return the embedding of the target rows (source rows without target)."""
        self.fit(X_source, y_source, X_target, y_target)
        X, _ = _unpack(X_target, None, "X_target")
        if X is None:
            X, _ = _unpack(X_source, None, "X_source")
            return self.transform(X, domain="source")
        return self.transform(X)

    def _check_params_vs_input(self, data):
        """Checks of parameters against the validated data (after ``_validate_params``)."""

    def _fit(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------- predict side
    def _check_domain(self, domain):
        if domain not in DOMAINS:
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}.")

    def _validate_X(self, X, domain="target"):
        check_is_fitted(self, "input_shapes_")
        self._check_domain(domain)
        X, _ = _unpack(X, None, "X")
        return check_X_shape(X, "X", self.input_shapes_[domain], type(self).__name__,
                             self._input_shape_for(domain), f" ({domain} domain)")

    @property
    def _predicts_classes(self):
        return hasattr(self, "classes_")

    def score(self, X, y, domain="target"):
        """Accuracy for class outputs, clustering accuracy (Hungarian) for clusters.

        ``X`` are rows of ``domain`` (target by default). In
        :class:`~sklearn.model_selection.GridSearchCV` the default scoring calls
        this on held-out *source* rows; use
        :func:`skhda.model_selection.make_target_scorer` to score on the target.
        """
        y_pred = self.predict(X, domain=domain)
        y = column_or_1d(np.asarray(y), warn=False)
        if len(y) != len(y_pred):
            raise ValueError(f"y has {len(y)} entries but X has {len(y_pred)} rows.")
        if self._predicts_classes:
            return float(accuracy_score(y, y_pred))
        return float(cluster_accuracy(y, y_pred))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        caps = self._capabilities()
        tags.target_tags.required = caps.requires_source_labels
        tags.non_deterministic = False
        if caps.label_space == "shared":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        else:
            tags.estimator_type = "clusterer"
        if hasattr(self, "transform"):
            # embeddings are float32 whatever the input dtype
            tags.transformer_tags = TransformerTags(preserves_dtype=[])
        return tags


def seed_if_unset(estimator, random_state):
    """Give ``estimator`` ``random_state`` when it has that parameter left at None."""
    if random_state is not None and estimator.get_params().get("random_state", 0) is None:
        estimator.set_params(random_state=random_state)
    return estimator


class ClusterAssigner:
    """Labels for new rows from a fitted sklearn clusterer.

    Uses the clusterer's ``predict`` when it has one; otherwise (spectral,
    agglomerative, DBSCAN ...) each new row gets the label of its nearest
    fitted row (1-nearest-neighbour, :class:`~sklearn.neighbors.KNeighborsClassifier`).
    """

    def __init__(self, clusterer, Z, random_state=None):
        self.clusterer = seed_if_unset(clone(clusterer), random_state)
        Z = Z.reshape(len(Z), -1)
        if hasattr(self.clusterer, "fit_predict"):
            self.labels = np.asarray(self.clusterer.fit_predict(Z))
        else:
            self.labels = np.asarray(self.clusterer.fit(Z).labels_)
        self.nearest = None
        if not hasattr(self.clusterer, "predict"):
            self.nearest = KNeighborsClassifier(n_neighbors=1).fit(Z, self.labels)

    def predict(self, Z):
        Z = Z.reshape(len(Z), -1)
        if self.nearest is not None:
            return self.nearest.predict(Z)
        return np.asarray(self.clusterer.predict(Z))

    @property
    def cluster_centers(self):
        return getattr(self.clusterer, "cluster_centers_", None)


def resolve_device(device):
    """The torch device string to train on: ``"auto"`` is CUDA when available, else CPU.

    Every form is checked before any training: a string or a
    :class:`torch.device` must name a device that is here (``"cpu"``,
    ``"cuda"`` / ``"cuda:<i>"`` with CUDA available and ``i`` below the GPU
    count, ``"mps"`` where Apple's MPS backend is available); anything else
    (``"meta"``, unknown strings, other types) raises a ``ValueError`` or
    ``TypeError`` naming ``device``.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be 'auto', a string or a torch.device, got {device!r}.")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if dev.type == "cpu":
        return str(dev)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available here; use 'auto' "
                             "or 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s).")
        return str(dev)
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} but the MPS backend is not available here; "
                             "use 'auto' or 'cpu'.")
        return str(dev)
    raise ValueError(f"device={device!r}: skhda trains on 'cpu', 'cuda' or 'mps' "
                     f"(or 'auto'), not on {dev.type!r} devices.")


def check_callbacks(callbacks, stage_names=None):
    """Check ``callbacks`` before any training; raise naming ``callbacks`` if unusable.

    ``callbacks`` is None, a list of skorch callbacks or ``(name, callback)``
    tuples (the main stage's), or a dict ``{stage: list}``; ``stage_names``
    (when known) are the estimator's stages, which the dict's keys must be.
    Callbacks that watch validation data are rejected: skhda stages train
    without a validation split.
    """
    if callbacks is None:
        return
    if isinstance(callbacks, dict):
        if stage_names is not None:
            unknown = sorted(set(callbacks) - set(stage_names))
            if unknown:
                raise ValueError(
                    f"callbacks has stages {unknown} that this estimator does not have; its "
                    f"stages are {list(stage_names)}."
                )
        lists = list(callbacks.items())
    elif isinstance(callbacks, (list, tuple)):
        lists = [(None, callbacks)]
    else:
        raise TypeError(f"callbacks must be a list of skorch callbacks, got {callbacks!r}.")
    for stage, cbs in lists:
        where = f"callbacks[{stage!r}]" if stage is not None else "callbacks"
        if not isinstance(cbs, (list, tuple)):
            raise TypeError(f"{where} must be a list of skorch callbacks, got {cbs!r}.")
        for cb in cbs:
            if (isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str)):
                cb = cb[1]
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"{where}: {cb!r} is not a skorch callback (a skorch.callbacks.Callback "
                    "or a (name, Callback) tuple)."
                )
            monitor = getattr(cb, "monitor", None)
            if (isinstance(monitor, str) and "valid" in monitor) \
                    or getattr(cb, "on_train", True) is False:
                raise ValueError(
                    f"{where}: {type(cb).__name__} watches validation data, but skhda stages "
                    "train without a validation split (the target has no labels to validate "
                    "on); monitor the training loss instead, e.g. "
                    "EarlyStopping(monitor='train_loss'), Checkpoint(monitor='train_loss_best'), "
                    "EpochScoring(..., on_train=True)."
                )


class DeepMixin:
    """Device, seeding and one skorch net per training stage, for any deep estimator.

    Used by :class:`BaseDeepDA` and by estimators with another fit signature
    (e.g. :class:`skhda.ccn.SimilarityNetwork`). Expects the parameters
    ``embedding_dim``, ``hidden_dims``, ``encoder``, ``lr``, ``device``,
    ``random_state``, ``verbose`` and ``callbacks``.
    """

    _main_stage = "train"
    #: the names of the training stages (the keys a ``callbacks`` dict may
    #: have); None: not declared, the keys are then not checked
    _stages = None

    def _check_callbacks(self):
        """:func:`check_callbacks` on ``callbacks``: call it before any training."""
        check_callbacks(self.callbacks, self._stages)

    _parameter_constraints: dict = {
        "embedding_dim": positive_int(),
        "hidden_dims": [tuple, list],
        "encoder": [None, torch.nn.Module, dict],
        "input_shape": [None, tuple, list, dict],
        "epochs": non_negative_int(),
        "batch_size": positive_int(),
        "lr": positive_real(),
        "device": [str, torch.device, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [None, list, tuple, dict],
    }

    def _validate_params(self):
        """The parameter table, then what no constraint expresses (sizes, the device)."""
        super()._validate_params()
        check_positive_ints(self.hidden_dims, "hidden_dims")
        self.device_ = resolve_device(self.device)

    def _seed(self):
        """A torch seed drawn from ``random_state`` (fresh per fit when it is None)."""
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    @contextlib.contextmanager
    def _seeded(self):
        """Run a fit's training with torch seeded from ``random_state``.

        The global torch random state is restored afterwards; the stages'
        histories are collected in ``histories_`` (``history_``: the main one).
        """
        self._fit_seed = self._seed()
        self.histories_ = {}
        devices = ["cuda"] if str(self.device_).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self._fit_seed)
            yield
        if not hasattr(self, "history_"):
            self.history_ = self.histories_.get(self._main_stage)

    def _stage_callbacks(self, stage):
        cbs = self.callbacks
        if cbs is None:
            return []
        if isinstance(cbs, dict):
            cbs = cbs.get(stage, [])
        elif stage != self._main_stage:
            return []
        return copy.deepcopy(list(cbs))   # checked by check_callbacks before training

    def _train_stage(self, stage, module, dataset, epochs, *, batch_size=None, lr=None,
                     extra_callbacks=(), cache=False, **net_kwargs):
        """Train ``module`` for one stage; record its history; return the net.

        With ``cache`` and a ``memory`` parameter set, a stage without user
        callbacks (and whose own callbacks are schedules with a ``cache_state``,
        :class:`~skhda._training.LinearSchedule`) of a fit seeded by an int
        ``random_state`` is restored from
        the cache when one with the same :func:`~skhda._cache.stage_key` was
        trained before: its weights and buffers, its history and the global
        torch random state it left (so the rest of the fit is the same). Its
        optimizer state is not kept: use it for a stage whose net is not
        trained further (each skhda stage starts its own optimizer).
        """
        user_callbacks = self._stage_callbacks(stage)
        net = make_net(
            module,
            epochs=epochs,
            batch_size=batch_size or self.batch_size,
            lr=self.lr if lr is None else lr,
            device=self.device_,
            seed=self._stage_seed(stage),
            verbose=self.verbose,
            callbacks=[*extra_callbacks, *user_callbacks],
            stage=stage,
            owner=type(self).__name__,
            **net_kwargs,
        )
        memory = self._memory() if cache else None
        # a stage is cached without callbacks, or with schedules whose effect can be stored
        stored = all(hasattr(cb, "cache_state") for cb in extra_callbacks)
        if memory is not None and epochs > 0 and stored and not user_callbacks:
            self._train_cached(net, stage, module, dataset, epochs, memory, net_kwargs,
                               list(extra_callbacks))
        elif epochs > 0:
            net.fit(dataset, None)
        else:
            net.initialize()
        self.histories_[stage] = net.history
        if stage == self._main_stage:
            self.history_ = net.history
        return net

    def _memory(self):
        """The ``memory`` a fit may use: None without one, or when ``random_state`` is not an
        int (a fresh seed per fit never repeats, so its entries would never be read)."""
        memory = getattr(self, "memory", None)
        return memory if cacheable_seed(self.random_state) else None

    def _train_cached(self, net, stage, module, dataset, epochs, memory, net_kwargs,
                      schedules=()):
        """Fit ``net`` on ``dataset``, or restore the fit from ``memory`` (see ``_train_stage``).

        ``schedules``: the stage's callbacks whose effect is the value they set last
        (:class:`~skhda._training.LinearSchedule`); it is stored and set again.
        """
        key = stage_key(stage, module, dataset, self.device_, epochs=epochs,
                        batch_size=net.batch_size, lr=net.lr, seed=self._stage_seed(stage),
                        net_kwargs=net_kwargs, schedules=schedules)

        def train():
            net.fit(dataset, None)
            return {"module": {k: v.detach().cpu() for k, v in module.state_dict().items()},
                    "history": net.history_, "rng": rng_states(self.device_),
                    "schedules": [cb.cache_state(net) for cb in schedules]}

        result = cached(memory, key, train)
        if net.initialized_:   # a miss (or a stage the key cannot name) trained net itself
            return
        net.initialize()
        module.load_state_dict(result["module"])
        for cb, value in zip(schedules, result["schedules"], strict=True):
            cb.restore_cache_state(net, value)
        net.history_ = result["history"]
        set_rng_states(result["rng"], self.device_)
        if self.verbose:
            print(f"{type(self).__name__} stage {stage!r}: restored from memory")

    def _train_restarts(self, stage, n_init, build, epochs, rank, **train_kwargs):
        """Train ``n_init`` models for ``stage`` and keep the best by ``rank`` (lower is better).

        The restarts of :class:`~sklearn.cluster.KMeans` (``n_init``) for a
        training stage: ``build()`` returns a new ``(module, dataset)`` for
        each run (new random weights), ``rank(net)`` scores a trained net
        without labels (:func:`~skhda._training.best_of`; e.g.
        :func:`~skhda._training.graph_cut_rank`). A run is built only when
        its turn comes, and only the best so far is kept; its history is the
        stage's. Returns the kept net and every run's score.
        """
        def runs():
            for _ in range(n_init):
                module, dataset = build()
                yield self._train_stage(stage, module, dataset, epochs, **train_kwargs)

        net, scores = best_of(runs(), rank)
        self.histories_[stage] = net.history
        if stage == self._main_stage:
            self.history_ = net.history
        return net, scores

    def _stage_seed(self, stage):
        return (self._fit_seed + sum(map(ord, stage))) % (2**31 - 1)

    @property
    def _sklearn_seed(self):
        """The fit's seed as the ``random_state`` of a scikit-learn step of the fit."""
        return self._fit_seed % (2**31 - 1)


class BaseDeepDA(DeepMixin, BaseDAEstimator):
    """Shared machinery of the deep DA estimators (encoders, stages, device, seeds).

    A subclass builds its modules from :meth:`_make_encoder` /
    :meth:`_make_decoder`, trains each stage with :meth:`_train_stage` and
    keeps the final stage's net as ``net_``. Expected parameters (declared
    by each subclass's ``__init__``): ``embedding_dim``, ``hidden_dims``,
    ``encoder``, ``input_shape``, ``batch_size``, ``lr``, ``device``,
    ``random_state``, ``verbose``, ``callbacks``.
    """

    _parameter_constraints: dict = {
        **BaseDAEstimator._parameter_constraints,
        **DeepMixin._parameter_constraints,
    }

    def _fit(self, data):
        self._check_callbacks()
        with self._seeded():
            self._fit_deep(data)
        return self

    # ------------------------------------------------------------- building
    def _make_contrast(self, shape, params="lambda_contrastive"):
        """The contrastive term's module (ours): views of strength ``augment``.

        ``shape`` is one row's shape; anything but an image raises a
        ``ValueError`` naming ``params``.
        """
        TwoViewContrast.check_images(shape, params)
        return TwoViewContrast(self.embedding_dim, float(self.augment))

    def _make_encoder(self, data, negative_slope=0.0, per_domain=False):
        """A :class:`DomainEncoder`: shared, or one input encoder per domain.

        Each domain gets its own encoder when the feature spaces differ or
        when ``per_domain`` is true (e.g. SSAN's per-domain projectors).
        ``negative_slope`` > 0 gives the default MLP encoders LeakyReLU activations.
        """
        user = self.encoder
        if user is not None:
            modules = copy.deepcopy(user)
            if isinstance(modules, dict) and set(modules) != set(DOMAINS):
                raise ValueError("encoder dict must have exactly the keys 'source' and 'target'.")
            if isinstance(modules, torch.nn.Module) and data.heterogeneous:
                raise ValueError(
                    "encoder is one module but the domains have different features; pass "
                    "encoder={'source': ..., 'target': ...}."
                )
            encoder = DomainEncoder(modules)
            self._check_encoder(encoder, data)
            return encoder
        split = data.heterogeneous or (per_domain and data.X_target is not None)
        build = {d: make_encoder(data.shapes[d], self.embedding_dim, tuple(self.hidden_dims),
                                 negative_slope=negative_slope)
                 for d in (DOMAINS if split else ("source",))}
        return DomainEncoder(build if split else build["source"])

    def _check_encoder(self, encoder, data):
        """Encode two rows of each domain, so a user encoder that does not fit fails here."""
        was_training = encoder.training
        encoder.eval()
        try:
            for domain, X in (("source", data.X_source), ("target", data.X_target)):
                if X is None:
                    continue
                with torch.no_grad():
                    try:
                        z = encoder(torch.as_tensor(X[:2]), domain)
                    except Exception as exc:
                        raise ValueError(
                            f"encoder cannot encode {domain} rows of shape {X.shape[1:]}: {exc}"
                        ) from None
                if z.ndim != 2 or z.shape[1] != self.embedding_dim:
                    raise ValueError(
                        f"encoder maps {domain} rows to shape {tuple(z.shape[1:])}, but "
                        f"embedding_dim={self.embedding_dim}; they must agree."
                    )
        finally:
            encoder.train(was_training)

    def _make_decoder(self, data):
        build = {d: make_decoder(data.shapes[d], self.embedding_dim, tuple(self.hidden_dims))
                 for d in (DOMAINS if data.heterogeneous else ("source",))}
        return DomainDecoder(build if data.heterogeneous else build["source"])

    def _fit_deep(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ inference
    def _embed(self, X, domain, net=None):
        net = self.net_ if net is None else net
        model = net.module_
        return batched_apply(lambda x: model.embed(x, domain), X, net.device, module=model)

    def transform(self, X, domain="target"):
        """The learned embedding of ``X`` (rows of ``domain``).

        Returns
        -------
        Z : ndarray of shape (n_samples, embedding_dim)
        """
        X = self._validate_X(X, domain)
        return self._embed(X, domain)


class LogitsClassifierMixin:
    """``predict_proba`` / ``predict`` of a deep estimator whose module has ``logits(x, domain)``.

    For estimators predicting the source classes (``classes_``) of rows of
    either domain.
    """

    def predict_proba(self, X, domain="target"):
        """Softmax of the network's outputs for rows of ``domain``.

        Columns ordered as ``classes_`` (or as the clusters, for a clustering
        network such as :class:`~skhda.CCN`, which has its own ``predict``).
        """
        X = self._validate_X(X, domain)
        model = self.net_.module_
        return batched_apply(lambda x: model.logits(x, domain).softmax(1), X,
                             self.net_.device, module=model)

    def predict(self, X, domain="target"):
        """Class of each row of ``X`` (one of ``classes_``); ``domain="source"`` for source rows."""
        proba = self.predict_proba(X, domain)
        return self.classes_[proba.argmax(1)]


#: The docs of the training parameters every deep estimator shares, in one place.
TRAINING_PARAMETERS_DOC = """
    encoder : torch.nn.Module or dict, default=None
        A user encoder (both domains), or ``{"source": ..., "target": ...}``,
        mapping rows to ``(n, embedding_dim)``; None builds a small conv net
        for images and an MLP for vectors. A copy is trained from the
        module's current weights: ``random_state`` does not re-initialise it
        (seed torch before building it when runs must repeat across processes).
    input_shape : tuple or dict, default=None
        Shape of one image when images come flat, e.g. ``(16, 16)``, or
        ``{"source": ..., "target": ...}`` when the domains differ.
    lr : float, default=1e-3
        Adam learning rate (of every training stage).
    device : str or torch.device, default="auto"
        ``"auto"``: CUDA when available, else CPU.
    random_state : int, RandomState or None, default=None
        Seeds the whole fit (same labels twice in a row on one device).
    verbose : int, default=0
        0 silent; 1 a progress bar and loss table per training stage.
    callbacks : list or dict of skorch callbacks, default=None
        Added to the main training stage's net (``EarlyStopping`` on
        ``train_loss``, ``LRScheduler``, ``Checkpoint`` ...);
        ``{stage: [...]}`` reaches each stage by name (the keys of
        ``histories_``).
"""


#: the end of every ``memory`` parameter's entry (each says first what it caches)
MEMORY_DOC_TAIL = """\
        Only fits seeded by an int ``random_state`` are cached (None draws a
        fresh seed per fit, which never repeats), on CPU or CUDA; a stage
        with user ``callbacks``, or a user ``encoder`` holding a closure, is
        trained every time. The keys hold the skhda, torch, skorch, scikit-learn and
        numpy versions, not the code of a user encoder's class: clear the
        folder after changing it. None (default): nothing is cached.
"""


def with_parameters_doc(text, marker="DEEP_PARAMETERS"):
    """Class decorator: put shared docs where a docstring has the line ``marker``.

    Lets an estimator family document its common parameters (or attributes)
    once. The text is re-indented to the marker's indentation, so it also
    works on docstrings that the compiler has dedented (Python >= 3.13).
    A docstring without the marker raises ``ValueError``.

    Examples
    --------
    >>> @with_parameters_doc("    a : int", marker="SHARED")
    ... class A:
    ...     \"\"\"Doc.
    ...
    ...     SHARED
    ...     \"\"\"
    >>> "a : int" in A.__doc__ and "SHARED" not in A.__doc__
    True
    """
    block = textwrap.dedent(text.strip("\n"))
    pattern = re.compile(rf"^([ \t]*){re.escape(marker)}[ \t]*$", flags=re.MULTILINE)

    def decorate(cls):
        doc = cls.__doc__ or ""
        match = pattern.search(doc)
        if match is None:
            raise ValueError(f"{cls.__name__}'s docstring has no line {marker!r}.")
        shared = textwrap.indent(block, match.group(1))
        cls.__doc__ = doc[:match.start()] + shared + doc[match.end():]
        return cls

    return decorate
