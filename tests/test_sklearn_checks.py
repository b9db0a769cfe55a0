"""scikit-learn's own estimator checks, where they apply.

They apply to estimators that can be fitted as ``fit(X, y)`` alone, without
target data: :class:`~skhda.baselines.SourceOnly` (shared labels; ``X_target``
optional). Estimators that need ``X_target`` raise a ``ValueError`` on
``fit(X, y)`` by contract (API.md), so sklearn's checks cannot run on them;
``tests/test_contract.py`` checks them instead.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from skhda.baselines import SourceOnly

_NAMES_Y_SOURCE = (
    "skhda's fit signature is fit(X_source, y_source, X_target, y_target): the label "
    "argument is named y_source, not y, so checks calling fit(X, y=...) or "
    "fit_transform(X, y=...) by keyword cannot run"
)

EXPECTED_FAILED = {
    "check_fit_score_takes_y": _NAMES_Y_SOURCE,
    "check_transformer_general": _NAMES_Y_SOURCE,
    "check_transformer_data_not_an_array": _NAMES_Y_SOURCE,
}


def _expected_failed(estimator):
    return EXPECTED_FAILED


@parametrize_with_checks(
    [SourceOnly(epochs=60, lr=0.01, embedding_dim=4, hidden_dims=(16,), random_state=0,
                device="cpu")],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
