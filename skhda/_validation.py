"""The one place where skhda imports scikit-learn's parameter-validation tools.

scikit-learn calls :mod:`sklearn.utils._param_validation` private; every skhda
module imports the constraint types from here, so a change there is one edit.
An estimator declares ``_parameter_constraints`` (merged from its base class's
table, as :class:`~sklearn.cluster.KMeans` does) and ``fit`` validates them
once, before any training.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    generate_invalid_param_val,
    make_constraint,
    validate_parameter_constraints,
)

__all__ = [
    "HasMethods",
    "check_positive_ints",
    "memory_option",
    "non_negative_int",
    "non_negative_real",
    "positive_int",
    "positive_real",
    "Hidden",
    "Integral",
    "Interval",
    "InvalidParameterError",
    "Options",
    "Real",
    "StrOptions",
    "generate_invalid_param_val",
    "make_constraint",
    "validate_parameter_constraints",
]


def positive_int():
    """``[Interval(Integral, 1, None)]``: an integer >= 1."""
    return [Interval(Integral, 1, None, closed="left")]


def non_negative_int():
    """``[Interval(Integral, 0, None)]``: an integer >= 0 (e.g. an optional stage's epochs)."""
    return [Interval(Integral, 0, None, closed="left")]


def positive_real():
    """``[Interval(Real, 0, None, closed="neither")]``: a number > 0."""
    return [Interval(Real, 0, None, closed="neither")]


def non_negative_real():
    """``[Interval(Real, 0, None)]``: a number >= 0 (a loss term's weight: 0 turns it off)."""
    return [Interval(Real, 0, None, closed="left")]


def memory_option():
    """``[None, str, HasMethods(["cache"])]``: a ``memory`` (a folder or a ``joblib.Memory``)."""
    return [None, str, HasMethods(["cache"])]


def check_positive_ints(value, name, allow_empty=True):
    """A sequence of positive ints, e.g. ``hidden_dims`` (no scikit-learn constraint fits it)."""
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(h, Integral) and not isinstance(h, bool) and h > 0 for h in value
    ) or (not allow_empty and not value):
        raise InvalidParameterError(
            f"The {name!r} parameter must be a {'' if allow_empty else 'non-empty '}sequence "
            f"of positive ints, got {value!r}."
        )
