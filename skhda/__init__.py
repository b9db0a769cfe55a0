"""skhda: scikit-learn estimators for heterogeneous domain adaptation and transferable
deep clustering, trained with skorch.

Every estimator has ``fit(X_source, y_source, X_target=None, y_target=None)``,
``predict``, ``fit_predict``, ``transform`` and ``score``; see the user guide.
"""

from . import baselines, datasets, metrics, model_selection, nn, pipeline  # noqa: F401
from ._base import Domain
from ._training import DomainBatchIterator, DomainDataset, DomainNet, DomainStatistics
from .baselines import (
    SourceFeatureClustering,
    SourceOnly,
    SourceTargetClustering,
    TargetClustering,
)
from .ccn import CCN, CCNPlus, SimilarityNetwork
from .ckm import CKM, DCNAdapter, DECAdapter
from .ssan import SSAN
from .tdcm import TDCM
from .xdc import XDC

__version__ = "0.1.0.dev0"

__all__ = [
    "CCN",
    "CCNPlus",
    "CKM",
    "DCNAdapter",
    "DECAdapter",
    "Domain",
    "DomainBatchIterator",
    "DomainDataset",
    "DomainNet",
    "DomainStatistics",
    "SimilarityNetwork",
    "SourceFeatureClustering",
    "SourceOnly",
    "SourceTargetClustering",
    "SSAN",
    "TDCM",
    "TargetClustering",
    "XDC",
    "__version__",
]
