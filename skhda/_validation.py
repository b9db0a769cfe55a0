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
