"""The user contract of API.md, checked on every public estimator.

Estimators are discovered from ``skhda.__all__`` and ``skhda.baselines.__all__``,
so a new method gets these tests by being exported.
"""

from __future__ import annotations

import inspect
import pickle
import re

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skhda import Domain
from skhda._validation import (
    InvalidParameterError,
    generate_invalid_param_val,
    make_constraint,
)
from skhda.ccn import SimilarityNetwork
from skhda.model_selection import make_target_scorer
from skhda.pipeline import make_da_pipeline

from .conftest import capabilities, make_estimator, public_estimators, task_for

ESTIMATORS = public_estimators()
ids = [c.__name__ for c in ESTIMATORS]


@pytest.fixture(params=ESTIMATORS, ids=ids)
def case(request, digits, digits_shared):
    cls = request.param
    return cls, task_for(cls, digits, digits_shared)


def test_discovery_finds_the_baselines():
    names = set(ids)
    assert {"TargetClustering", "SourceOnly", "SourceTargetClustering",
            "SourceFeatureClustering"} <= names


def test_fit_predict_transform_shapes(case):
    cls, (Xs, ys, Xt, yt) = case
    est = make_estimator(cls)
    assert est.fit(Xs, ys, Xt) is est
    assert est.n_features_in_ == Xs.shape[1]
    labels = est.predict(Xt)
    assert labels.shape == (len(Xt),)
    Z = est.transform(Xt)
    assert Z.ndim == 2 and len(Z) == len(Xt)
    assert est.predict(Xs, domain="source").shape == (len(Xs),)
    if hasattr(est, "predict_proba"):
        P = est.predict_proba(Xt)
        np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-4)
    if hasattr(est, "classes_"):
        assert set(np.unique(labels)) <= set(est.classes_)
    else:
        assert labels.min() >= 0
    fp = clone(est).fit_predict(Xs, ys, Xt)
    assert fp.shape == (len(Xt),)
    score = est.score(Xt, yt)
    assert 0.0 <= score <= 1.0


def test_inputs_are_not_modified(case):
    cls, (Xs, ys, Xt, yt) = case
    Xs32 = np.asarray(Xs, dtype=np.float32)   # float32 C arrays may be used without a copy
    arrays = [Xs32, ys.copy(), Xt.copy(), np.where(np.arange(len(yt)) % 4 == 0, yt, -1)]
    before = [a.copy() for a in arrays]
    est = make_estimator(cls).fit(*arrays)
    est.predict(arrays[2])
    est.transform(arrays[0], domain="source")
    for a, b in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_array_likes_accepted(case):
    cls, (Xs, ys, Xt, yt) = case
    est = make_estimator(cls)
    ref = make_estimator(cls).fit(Xs, ys, Xt).predict(Xt)
    est.fit(pd.DataFrame(Xs), pd.Series(ys), np.asfortranarray(Xt.astype(np.float32)))
    assert est.predict(Xt.tolist()).shape == ref.shape
    est.fit(Xs.tolist(), ys.tolist(), Xt.tolist())
    assert est.predict(pd.DataFrame(Xt)).shape == ref.shape


def test_images_accepted_in_every_layout(case):
    cls, (Xs, ys, Xt, yt) = case
    imgs_s, imgs_t = Xs.reshape(-1, 8, 8), Xt.reshape(-1, 8, 8)
    for args, kw in [((imgs_s, ys, imgs_t), {}),
                     ((imgs_s[:, None], ys, imgs_t[:, None]), {}),
                     ((Xs, ys, Xt), {"input_shape": (8, 8)})]:
        if "input_shape" in kw and "input_shape" not in cls().get_params():
            continue
        est = make_estimator(cls, **kw).fit(*args)
        assert est.predict(args[2]).shape == (len(Xt),)


def test_same_seed_same_labels(case):
    cls, (Xs, ys, Xt, yt) = case
    a = make_estimator(cls, random_state=3).fit(Xs, ys, Xt).predict(Xt)
    b = make_estimator(cls, random_state=3).fit(Xs, ys, Xt).predict(Xt)
    np.testing.assert_array_equal(a, b)


def test_clone_params_pickle_joblib(case, tmp_path):
    cls, (Xs, ys, Xt, yt) = case
    est = make_estimator(cls)
    params = est.get_params()
    c = clone(est)
    assert c.get_params().keys() == params.keys()
    est.set_params(random_state=1)
    assert est.get_params()["random_state"] == 1
    pickle.loads(pickle.dumps(est))  # before fit
    est.fit(Xs, ys, Xt)
    labels = est.predict(Xt)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(Xt), labels)
    joblib.dump(est, tmp_path / "est.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "est.joblib").predict(Xt), labels)
    assert not hasattr(clone(est), "n_features_in_")


def test_verbose_zero_is_silent(case, capsys):
    cls, (Xs, ys, Xt, yt) = case
    make_estimator(cls, **({"verbose": 0} if "verbose" in cls().get_params() else {})).fit(
        Xs, ys, Xt)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_domain_holder_same_as_arrays(case):
    cls, (Xs, ys, Xt, yt) = case
    a = make_estimator(cls).fit(Xs, ys, Xt).predict(Xt)
    b = make_estimator(cls).fit(Xs, ys, X_target=Domain(Xt)).predict(Domain(Xt))
    np.testing.assert_array_equal(a, b)


def test_heterogeneous_features(case):
    cls, (Xs, ys, Xt, yt) = case
    if not capabilities(cls).heterogeneous:
        pytest.skip(f"{cls.__name__} documents that it needs shared features")
    Xt16 = Xt.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    y_t = np.where(np.arange(len(yt)) % 3 == 0, yt, -1)  # a few target labels
    est = make_estimator(cls).fit(Xs, ys, Xt16, y_t)
    assert est.predict(Xt16).shape == (len(Xt16),)
    try:
        assert est.predict(Xs, domain="source").shape == (len(Xs),)
    except ValueError as exc:  # allowed, when it says why
        assert "source" in str(exc)
    with pytest.raises(ValueError, match="features"):
        est.predict(Xs)  # 64 features, target expects 16


def test_pipeline_and_grid_search(case):
    cls, (Xs, ys, Xt, yt) = case
    pipe = make_da_pipeline(StandardScaler(), make_estimator(cls))
    labels = pipe.fit_predict(Xs, ys, X_target=Xt)
    assert labels.shape == (len(Xt),)
    name = pipe.steps[-1][0]
    scorer = make_target_scorer(Xt[::2], yt[::2], "nmi")
    search = GridSearchCV(pipe, {f"{name}__random_state": [0, 1]}, cv=2, scoring=scorer,
                          error_score="raise")
    search.fit(Xs, ys, X_target=Domain(Xt))
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(Xt).shape == (len(Xt),)


# --------------------------------------------------------------- bad input
def _bad_inputs(cls, Xs, ys, Xt, yt):
    caps = capabilities(cls)
    nan = Xs.copy()
    nan[0, 0] = np.nan
    inf_t = Xt.copy()
    inf_t[1, 1] = np.inf
    cases = [
        ("X_source", (nan, ys, Xt)),
        ("X_target", (Xs, ys, inf_t)),
        ("X_source", (Xs[:, 0], ys, Xt)),             # 1-D
        ("X_source", (Xs[:, :, None, None, None], ys, Xt)),  # 5-D
        ("X_target", (Xs, ys, Xt[:0])),               # empty domain
        ("X_source", (Xs[:0], ys[:0], Xt)),
    ]
    if caps.requires_source_labels:
        cases += [
            ("y_source", (Xs, ys[:-1], Xt)),
            ("y_source", (Xs, np.zeros_like(ys), Xt)),   # single class
            ("y_source", (Xs, None, Xt)),
        ]
    if caps.requires_target:
        cases.append(("X_target", (Xs, ys, None)))
    bad_t = np.full(len(Xt), -1)
    bad_t[0] = -5
    cases.append(("y_target", (Xs, ys, Xt, bad_t)))
    cases.append(("y_target", (Xs, ys, Xt, np.zeros(len(Xt) + 1, dtype=int))))
    if caps.label_space == "shared":
        foreign = np.full(len(Xt), -1)
        foreign[0] = 99
        cases.append(("y_target", (Xs, ys, Xt, foreign)))
    if "n_clusters" in cls().get_params():
        cases.append(("n_clusters", ((Xs, ys, Xt[:3]), {"n_clusters": 5})))
    return cases


def test_bad_input_raises_clear_errors(case):
    cls, (Xs, ys, Xt, yt) = case
    for name, args in _bad_inputs(cls, Xs, ys, Xt, yt):
        kw = {}
        if isinstance(args[-1], dict):
            args, kw = args
        est = make_estimator(cls, **kw)
        with pytest.raises((ValueError, TypeError)) as info:
            est.fit(*args)
        msg = str(info.value)
        assert name in msg or (name == "n_clusters" and "X_target" in msg), (name, msg)


def test_predict_checks_features_and_fit(case):
    cls, (Xs, ys, Xt, yt) = case
    est = make_estimator(cls)
    with pytest.raises(Exception, match="not fitted"):
        est.predict(Xt)
    est.fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="X has 10 features"):
        est.predict(Xt[:, :10])
    with pytest.raises(ValueError, match="domain"):
        est.predict(Xt, domain="elsewhere")
    bad = Xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)


# ------------------------------------------------------- parameter tables
class _NotAParameter:
    """A value no constraint accepts."""


def _invalid_values(constraints):
    """One invalid value per constraint of a table entry (scikit-learn's generator), plus a
    value of a wrong type; values that another constraint of the entry accepts are skipped."""
    made = [make_constraint(c) for c in constraints]
    values = [_NotAParameter()]
    for c in made:
        try:
            values.append(generate_invalid_param_val(c))
        except NotImplementedError:
            continue
    return [v for v in values if not any(c.is_satisfied_by(v) for c in made)]


TABLED = [*ESTIMATORS, SimilarityNetwork]


@pytest.mark.parametrize("cls", TABLED, ids=[c.__name__ for c in TABLED])
def test_every_parameter_is_declared_and_rejected_by_name(cls, digits):
    """Generated from each estimator's ``_parameter_constraints``: every parameter that
    ``get_params`` returns is declared, and each invalid value fails ``fit`` before any
    training with an error naming the parameter."""
    Xs, ys, Xt, _ = digits
    table = cls._parameter_constraints
    params = cls().get_params(deep=False)
    assert not set(params) - set(table), f"undeclared: {sorted(set(params) - set(table))}"
    checked = 0
    for name in params:
        for value in _invalid_values(table[name]):
            est = cls(**{name: value})
            with pytest.raises(InvalidParameterError, match=f"'{name}'"):
                if cls is SimilarityNetwork:
                    est.fit(Xs, ys)
                else:
                    est.fit(Xs, ys, Xt)
            assert not hasattr(est, "net_")
            checked += 1
    assert checked >= len(params)


# ------------------------------------------------------------------- docs
def _documented_parameters(doc):
    section = doc.split("Parameters\n")[1]
    section = re.split(r"\n\s*(Attributes|Returns|See Also|Notes|Examples)\n\s*-{3,}", section)[0]
    return set(re.findall(r"^\s*(\w+) :", section, flags=re.MULTILINE))


@pytest.mark.parametrize("cls", TABLED, ids=[c.__name__ for c in TABLED])
def test_every_parameter_is_documented(cls):
    doc = cls.__doc__
    assert "DEEP_PARAMETERS" not in doc and "DEEP_ATTRIBUTES" not in doc
    missing = set(cls().get_params(deep=False)) - _documented_parameters(doc)
    assert not missing, f"{cls.__name__} does not document {sorted(missing)}"


def test_shared_parameter_docs_survive_dedented_docstrings():
    """Python 3.13 dedents docstrings at compile time; emulate it with inspect.cleandoc."""
    from skhda._base import with_parameters_doc

    class Indented:
        """Summary.

        Parameters
        ----------
        a : int
        SHARED

        Examples
        --------
        """

    class Dedented:
        pass

    Dedented.__doc__ = inspect.cleandoc(Indented.__doc__)
    shared = """
    b : float, default=1.0
        Shared text.
"""
    for cls, indent in ((Indented, "        "), (Dedented, "")):
        doc = with_parameters_doc(shared, marker="SHARED")(cls).__doc__
        assert "SHARED" not in doc
        assert f"\n{indent}b : float, default=1.0\n{indent}    Shared text.\n" in doc
        assert _documented_parameters(doc) == {"a", "b"}
    with pytest.raises(ValueError, match="SHARED"):
        with_parameters_doc(shared, marker="SHARED")(type("NoMarker", (), {"__doc__": "x"}))
