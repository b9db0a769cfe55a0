"""Baselines with the skhda fit signature, to compare every method against.

- :class:`TargetClustering`: any scikit-learn clusterer fitted on the target.
- :class:`SourceTargetClustering`: autoencoder on both domains, clusterer on
  the target embedding (the CKM paper's "Src+Targ clustering" without CKM).
- :class:`SourceOnly`: classifier trained on the source labels (shared labels).
- :class:`SourceFeatureClustering`: network trained on the source labels,
  clusterer on its target embedding (disjoint labels).
- :class:`N2DClustering`: the strongest target-only deep baseline, N2D-style:
  autoencoder on the target rows only, a manifold embedding of its codes, a
  Gaussian mixture. It ignores the source: what a method gains over it is
  what the source data buys.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.manifold import SpectralEmbedding
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import (
    TRAINING_PARAMETERS_DOC,
    BaseDAEstimator,
    BaseDeepDA,
    Capabilities,
    ClusterAssigner,
    LogitsClassifierMixin,
    seed_if_unset,
    with_parameters_doc,
)
from ._validation import HasMethods, Integral, Interval
from .nn.losses import reconstruction_loss

__all__ = [
    "ManifoldGMM",
    "N2DClustering",
    "SourceFeatureClustering",
    "SourceOnly",
    "SourceTargetClustering",
    "TargetClustering",
]


class TargetClustering(BaseDAEstimator):
    """Any scikit-learn clusterer, fitted on the target rows only.

    The source data is validated and ignored. ``predict`` on new rows uses
    the clusterer's ``predict`` when it has one; for clusterers without it
    (spectral, agglomerative, DBSCAN ...) each new row gets the label of its
    nearest fitted target row. ``transform`` returns the rows flattened (this
    baseline learns no embedding).

    Parameters
    ----------
    clusterer : estimator, default=None
        A scikit-learn clusterer (cloned at fit). None means
        ``KMeans(n_clusters=<number of source classes>, n_init=10)``.
    random_state : int, RandomState or None, default=None
        Given to the clusterer when it has a ``random_state`` left at None.

    Attributes
    ----------
    clusterer_ : estimator
        The fitted clone.
    labels_ : ndarray of shape (n_target,)
        Cluster of each fitted target row.
    cluster_centers_ : ndarray
        The clusterer's centres, when it has them.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from skhda.baselines import TargetClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = TargetClustering(KMeans(5, n_init=10, random_state=0))
    >>> labels = est.fit_predict(Xs, ys, Xt)
    >>> sorted(set(labels.tolist()))
    [0, 1, 2, 3, 4]
    """

    def _capabilities(self):
        return Capabilities(requires_source_labels=False)

    def __init__(self, clusterer=None, random_state=None):
        self.clusterer = clusterer
        self.random_state = random_state

    def _fit(self, data):
        clusterer = self.clusterer
        if clusterer is None:
            clusterer = KMeans(n_clusters=self._n_clusters(data), n_init=10)
        self._assigner = ClusterAssigner(clusterer, data.X_target, self.random_state)
        self.clusterer_ = self._assigner.clusterer
        self.labels_ = self._assigner.labels
        centers = self._assigner.cluster_centers
        if centers is not None:
            self.cluster_centers_ = centers

    def predict(self, X, domain="target"):
        """Cluster of each row of ``X``.

        Source rows are clustered by the same clusterer, which needs both
        domains to share their features.
        """
        X = self._validate_X(X, domain)
        if domain == "source" and self.input_shapes_["source"] != self.input_shapes_["target"]:
            raise ValueError(
                "TargetClustering cannot predict source rows: the clusterer was fitted on the "
                "target features, which differ from the source features."
            )
        return self._assigner.predict(X)

    def fit_predict(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit, then return the clusters of the fitted target rows (``labels_``)."""
        return self.fit(X_source, y_source, X_target, y_target).labels_.copy()

    def transform(self, X, domain="target"):
        """The rows of ``X``, flattened (no learned embedding)."""
        X = self._validate_X(X, domain)
        return X.reshape(len(X), -1).copy()


class _Autoencoder(nn.Module):
    """Reconstruct the rows of every domain part in the batch."""

    loss_terms = ("rec_source", "rec_target")

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def embed(self, x, domain):
        return self.encoder(x, domain)

    def forward(self, batch):
        return {
            f"rec_{d}": reconstruction_loss(self.decoder(self.encoder(p.X, d), d), p.X)
            for d, p in batch.parts.items()
        }


class _Classifier(nn.Module):
    """Encoder + linear head; cross-entropy on every labelled part of the batch."""

    loss_terms = ("ce_source", "ce_target")

    def __init__(self, encoder, n_classes, embedding_dim):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(embedding_dim, n_classes)

    def embed(self, x, domain):
        return self.encoder(x, domain)

    def logits(self, x, domain):
        return self.head(self.encoder(x, domain))

    def forward(self, batch):
        return {f"ce_{d}": F.cross_entropy(self.logits(p.X, d), p.y)
                for d, p in batch.parts.items()}


class _EmbeddingClustering(BaseDeepDA):
    """Clusterer on the target embedding of a trained network."""

    _stages = ("train",)

    def _clusterer(self, data):
        clusterer = self.clusterer
        if clusterer is None:
            clusterer = KMeans(n_clusters=self._n_clusters(data), n_init=10)
        return clusterer

    def _fit_clusterer(self, data, clusterer):
        self._assigner = ClusterAssigner(clusterer, self._embed(data.X_target, "target"),
                                         self._fit_seed)
        self.clusterer_ = self._assigner.clusterer
        self.labels_ = self._assigner.labels
        centers = self._assigner.cluster_centers
        if centers is not None:
            self.cluster_centers_ = centers

    def predict(self, X, domain="target"):
        """Cluster of each row of ``X`` (in the learned embedding)."""
        check_is_fitted(self, "clusterer_")
        return self._assigner.predict(self.transform(X, domain))

    def fit_predict(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit, then return the clusters of the fitted target rows (``labels_``)."""
        return self.fit(X_source, y_source, X_target, y_target).labels_.copy()


_DEEP_DOC = """
    embedding_dim : int, default=10
        Dimension of the shared embedding.
    hidden_dims : sequence of int, default=(256, 128)
        Hidden layers of the default MLP encoder (vectors).
    epochs : int, default=30
        Training epochs.
    batch_size : int, default=256
""" + TRAINING_PARAMETERS_DOC


_deep_doc = with_parameters_doc(_DEEP_DOC)


@_deep_doc
class SourceTargetClustering(_EmbeddingClustering):
    """Autoencoder on source and target, then a clusterer on the target embedding.

    Source labels are not used (they are validated if given).

    Parameters
    ----------
    n_clusters : int, default=None
        Clusters of the default k-means; None: the number of source classes.
    clusterer : estimator, default=None
        Any scikit-learn clusterer applied to the target embedding
        (default k-means).
    DEEP_PARAMETERS

    Attributes
    ----------
    net_ : skhda.DomainNet
        The trained autoencoder net.
    history_ : skorch.History
    labels_ : ndarray of shape (n_target,)
    clusterer_ : estimator

    Examples
    --------
    >>> from skhda.baselines import SourceTargetClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = SourceTargetClustering(n_clusters=5, epochs=2, random_state=0)
    >>> est.fit_predict(Xs, ys, Xt).shape
    (896,)
    """

    def _capabilities(self):
        return Capabilities(requires_source_labels=False)

    def __init__(self, n_clusters=None, clusterer=None, *, embedding_dim=10,
                 hidden_dims=(256, 128), encoder=None, input_shape=None, epochs=30,
                 batch_size=256, lr=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None):
        self.n_clusters = n_clusters
        self.clusterer = clusterer
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _fit_deep(self, data):
        epochs = self.epochs
        clusterer = self._clusterer(data)
        model = _Autoencoder(self._make_encoder(data), self._make_decoder(data))
        self.net_ = self._train_stage("train", model, data.dataset(), epochs)
        self._fit_clusterer(data, clusterer)


@_deep_doc
class SourceFeatureClustering(_EmbeddingClustering):
    """Network trained on the source labels, clusterer on its target embedding.

    The UDA-with-disjoint-labels baseline that transfers only a feature
    extractor. The target rows are not used for training, so the domains
    must share their features.

    Parameters
    ----------
    n_clusters : int, default=None
        Clusters of the default k-means; None: the number of source classes.
    clusterer : estimator, default=None
        Any scikit-learn clusterer applied to the target embedding.
    DEEP_PARAMETERS

    Examples
    --------
    >>> from skhda.baselines import SourceFeatureClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = SourceFeatureClustering(epochs=2, random_state=0).fit(Xs, ys, Xt)
    >>> est.transform(Xt).shape
    (896, 10)
    """

    def _capabilities(self):
        return Capabilities(heterogeneous=False)   # the target rows are not trained on

    def __init__(self, n_clusters=None, clusterer=None, *, embedding_dim=10,
                 hidden_dims=(256, 128), encoder=None, input_shape=None, epochs=30,
                 batch_size=256, lr=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None):
        self.n_clusters = n_clusters
        self.clusterer = clusterer
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _fit_deep(self, data):
        epochs = self.epochs
        clusterer = self._clusterer(data)
        self.source_classes_ = data.source_classes()[0]
        model = _Classifier(self._make_encoder(data), len(self.source_classes_),
                            self.embedding_dim)
        self.net_ = self._train_stage("train", model, data.dataset("Xy", target=None), epochs)
        self._fit_clusterer(data, clusterer)


@_deep_doc
class SourceOnly(LogitsClassifierMixin, BaseDeepDA):
    """Classifier trained on the source labels, applied to the target (shared labels).

    With labelled target rows (``y_target`` != -1) they are trained on too;
    that is also what lets the target encoder learn when the target features
    differ from the source's (heterogeneous features need target labels).
    ``X_target`` is optional.

    Parameters
    ----------
    DEEP_PARAMETERS

    Attributes
    ----------
    classes_ : ndarray
        The source classes; ``predict`` returns labels from them.
    net_ : skhda.DomainNet
    history_ : skorch.History

    Examples
    --------
    >>> from skhda.baselines import SourceOnly
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer("shared")
    >>> est = SourceOnly(epochs=5, random_state=0).fit(Xs, ys, Xt)
    >>> est.predict(Xt).shape == yt.shape
    True
    """

    _stages = ("train",)

    def _capabilities(self):
        return Capabilities(requires_target=False, label_space="shared")

    def __init__(self, *, embedding_dim=10, hidden_dims=(256, 128), encoder=None,
                 input_shape=None, epochs=30, batch_size=256, lr=1e-3, device="auto",
                 random_state=None, verbose=0, callbacks=None):
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _fit_deep(self, data):
        epochs = self.epochs
        self.classes_ = data.source_classes()[0]
        labelled = data.has_target_labels
        if not labelled and data.heterogeneous:
            raise ValueError(
                "X_target has other features than X_source and y_target has no labels: "
                "SourceOnly cannot train a target encoder without target labels."
            )
        model = _Classifier(self._make_encoder(data), len(self.classes_), self.embedding_dim)
        dataset = data.dataset("Xy", target="Xy" if labelled else None,
                               labelled=self.classes_ if labelled else None)
        self.net_ = self._train_stage("train", model, dataset, epochs)


class ManifoldGMM(ClusterMixin, BaseEstimator):
    """A manifold embedding of the rows, then a Gaussian mixture on it (N2D's clusterer).

    Parameters
    ----------
    n_clusters : int, default=8
        Mixture components; also the embedding's dimension by default.
    manifold : estimator, default=None
        Anything with ``fit_transform`` (``umap.UMAP(n_components=K,
        n_neighbors=20, min_dist=0)`` is N2D's choice, from the optional
        ``umap-learn``). None: scikit-learn's
        :class:`~sklearn.manifold.SpectralEmbedding` with ``n_clusters``
        components on a sparse 20-nearest-neighbour graph (memory linear in the
        rows).
    random_state : int, RandomState instance or None, default=None
        Seeds the embedding and the mixture when they have a ``random_state``
        left at None.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
    mixture_ : GaussianMixture or None
        None when there is a single row.
    labels_ : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skhda.baselines import ManifoldGMM
    >>> X, y = load_digits(return_X_y=True)
    >>> ManifoldGMM(10, random_state=0).fit(X[:300]).labels_.shape
    (300,)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "manifold": [None, HasMethods(["fit_transform"])],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=8, manifold=None, random_state=None):
        self.n_clusters = n_clusters
        self.manifold = manifold
        self.random_state = random_state

    def fit(self, X, y=None):
        """Embed ``X`` and fit the mixture; the clusters are in ``labels_``."""
        self._validate_params()
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if len(X) < self.n_clusters:
            raise ValueError(f"n_clusters={self.n_clusters} is more than the {len(X)} rows.")
        if self.manifold is not None:
            manifold = clone(self.manifold)
        elif len(X) >= self.n_clusters + 3:
            manifold = SpectralEmbedding(self.n_clusters, affinity="nearest_neighbors",
                                         n_neighbors=min(20, len(X) - 1))
        else:                   # too few rows for a spectral embedding: the rows themselves
            manifold = None
        mixture = seed_if_unset(GaussianMixture(self.n_clusters, covariance_type="full",
                                                n_init=3), self.random_state)
        self.embedding_ = X if manifold is None else np.asarray(
            seed_if_unset(manifold, self.random_state).fit_transform(X), dtype=np.float64)
        if len(X) < 2:          # one row: one cluster (a mixture needs two rows)
            self.mixture_, self.labels_ = None, np.zeros(len(X), dtype=np.int64)
            return self
        self.mixture_ = mixture.fit(self.embedding_)
        self.labels_ = self.mixture_.predict(self.embedding_)
        return self


@_deep_doc
class N2DClustering(_EmbeddingClustering):
    """N2D-style target-only deep clustering: autoencoder, manifold, Gaussian mixture.

    (Not Too) Deep Clustering (McConville et al., 2020): an autoencoder is
    trained on the **target rows only**, its codes are embedded on a manifold
    and clustered by a Gaussian mixture (:class:`ManifoldGMM`). The source
    rows and labels are validated and otherwise ignored, so this is the
    single-domain deep clustering a user would try instead of adapting from a
    source. New rows get the cluster of their nearest fitted target row in
    the autoencoder's embedding.

    Parameters
    ----------
    n_clusters : int, default=None
        Clusters; None: the number of source classes.
    manifold : estimator, default=None
        The manifold step of :class:`ManifoldGMM` (None: spectral embedding;
        ``umap.UMAP(n_components=K, n_neighbors=20, min_dist=0)`` for the
        original N2D).
    DEEP_PARAMETERS

    Attributes
    ----------
    net_ : skhda.DomainNet
        The trained autoencoder net.
    history_ : skorch.History
    labels_ : ndarray of shape (n_target,)
    clusterer_ : ManifoldGMM

    Examples
    --------
    >>> from skhda.baselines import N2DClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = N2DClustering(n_clusters=5, epochs=2, random_state=0)
    >>> est.fit_predict(Xs, ys, Xt).shape
    (896,)
    """

    _parameter_constraints = {
        **_EmbeddingClustering._parameter_constraints,
        "manifold": [None, HasMethods(["fit_transform"])],
    }

    def _capabilities(self):
        return Capabilities(requires_source_labels=False, heterogeneous=False)

    def __init__(self, n_clusters=None, manifold=None, *, embedding_dim=10,
                 hidden_dims=(256, 128), encoder=None, input_shape=None, epochs=30,
                 batch_size=256, lr=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None):
        self.n_clusters = n_clusters
        self.manifold = manifold
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _fit_deep(self, data):
        clusterer = ManifoldGMM(self._n_clusters(data), self.manifold)
        model = _Autoencoder(self._make_encoder(data), self._make_decoder(data))
        self.net_ = self._train_stage("train", model, data.dataset(source=None), self.epochs)
        self._fit_clusterer(data, clusterer)
