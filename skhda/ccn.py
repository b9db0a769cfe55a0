"""Learning to cluster in order to transfer (CCN, CCN+, CCN++) and its similarity network G.

Hsu, Lv and Kira, "Learning to cluster in order to transfer across domains
and tasks" (ICLR 2018). The algorithm, in three estimators:

1. :class:`SimilarityNetwork` (the paper's G, figure 3): a backbone, the
   dense pair enumeration of a batch (``B x B`` ordered pairs, self-pairs
   included) and a two-logit head, trained with cross-entropy on "same
   class" from labelled rows, on class-balanced batches
   (:class:`ClassBalancedBatchIterator`: several classes x several rows).
2. :class:`CCN` (cross-task clustering): G, frozen, labels every pair of a
   target batch (binarised ``P(similar) > 0.5``); a clustering network with
   ``K`` softmax outputs is trained on the target with the learnable
   clustering objective, KCL (equations 2-5, hinge margin ``sigma = 2``) or
   MCL (Hsu et al. 2019). ``K`` may exceed the true count (e.g. 100): the
   estimate is the number of dominant clusters (``n_clusters_found_``).
3. :class:`CCNPlus` (cross-domain, shared labels): one network, one output
   head; cross-entropy on source batches plus the clustering objective on
   target batches (32 + 96 rows per step). ``adversarial=True`` adds a DANN
   domain discriminator (CCN++).

Beyond the paper (switchable, documented): ``similarity_bn="target"``
re-estimates G's BatchNorm statistics on the target rows before use (AdaBN;
the reference code gets a similar effect by running G in train mode), and G
trains on image rows under a light random affine jitter (its ``augment``, on
by default for images), and on feature vectors CCN's ``target_graph="auto"``
lets the target's own shared-nearest-neighbour graph (neighbours in a t-SNE
map of the target rows) label the pairs it is sure of (G labels the rest)
and keeps the best of 3 clustering nets by how little their partition cuts
the target's kNN graph (``n_init``). Fixed, beyond the paper: CCN+ / CCN++
train with one pass over both domains' rows per step, DANN (CCN++ without
the clustering term) passes each domain through the network on its own
(per-domain BatchNorm batch statistics), CCN+ / CCN++ / DANN predict each
domain with BatchNorm statistics re-estimated on its rows after training
(:class:`~skhda.DomainStatistics`), and CCN++'s features minimise the
discriminator's domain confusion instead of receiving its reversed gradient
(``doc/benchmarks/ccn.md``).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import (
    MEMORY_DOC_TAIL,
    TRAINING_PARAMETERS_DOC,
    BaseDeepDA,
    Capabilities,
    DeepMixin,
    LogitsClassifierMixin,
    _check_y,
    check_X,
    check_X_shape,
    reset_fitted_state,
    with_parameters_doc,
)
from ._cache import cached_call
from ._training import (
    ClassBalancedBatchIterator,
    DomainDataset,
    DomainStatistics,
    adapt_batchnorm,
    batched_apply,
    graph_cut_rank,
)
from ._validation import (
    Integral,
    Interval,
    StrOptions,
    memory_option,
    non_negative_real,
    positive_int,
    positive_real,
)
from .metrics import cluster_accuracy, n_dominant_clusters, pair_precision_recall
from .nn.encoders import make_encoder
from .nn.graph import (
    TSNE_MAX_IMAGE_ROWS,
    TSNE_MAX_ROWS,
    knn_indices,
    map_kmeans_labels,
    shared_neighbours,
    spectral_labels,
    tsne_map,
)
from .nn.layers import DomainDiscriminator, RandomAffine
from .nn.pairwise import KCL, MCL, PairwiseSimilarityHead, pair_targets

__all__ = [
    "CCN",
    "CCNPlus",
    "ClassBalancedBatchIterator",
    "SimilarityNetwork",
    "pair_precision_recall",
]

_LOSSES = {"kcl": KCL, "mcl": MCL}
# CCN's lambda_contrastive="auto" on target images (the Omniglot proxy split, doc/benchmarks/ccn.md)
_AUTO_IMAGE_CONTRAST = 1.0
# target_graph="auto" on images takes the t-SNE graph when two partitions of the target pixels
# (k-means on the t-SNE map, spectral on the 10-NN graph) agree on this share of the rows:
# 0.70-0.97 on the USPS class splits with K known, 0.47-0.59 on the Omniglot proxy alphabets
# and with n_clusters=100 (doc/benchmarks/ccn.md, "The image rule of target_graph")
_AUTO_IMAGE_AGREEMENT = 0.65
# SimilarityNetwork's augment="auto" on images: G learns from jittered source images, the
# strength of CCN's own views (USPS cross-task proxies: +0.047 target ACC over 12 fits,
# |NDC - 5| 3.5 -> 2.2 with n_clusters=100; doc/benchmarks/ccn.md, "G trained on jittered images")
_AUTO_IMAGE_AUGMENT = 0.5


# ------------------------------------------------------------------ helpers
def _resolve_similarity(similarity):
    """The :class:`SimilarityNetwork` inside ``similarity`` (or a FrozenEstimator of one)."""
    inner = similarity.estimator if isinstance(similarity, FrozenEstimator) else similarity
    if not isinstance(inner, SimilarityNetwork):
        raise TypeError(
            f"similarity must be None, a SimilarityNetwork or a FrozenEstimator of one, "
            f"got {similarity!r}."
        )
    return inner


def _is_fitted(est):
    return hasattr(est, "net_")


# ---------------------------------------------------------- the network G
class _SimilarityModel(nn.Module):
    """Backbone + :class:`PairwiseSimilarityHead`; cross-entropy on all ``B^2`` pairs."""

    loss_terms = ("pair_ce",)

    def __init__(self, encoder, embedding_dim, hidden_dim, augment=0.0):
        super().__init__()
        self.encoder = encoder
        self.head = PairwiseSimilarityHead(embedding_dim, hidden_dim)
        self.augment = RandomAffine(augment)

    def embed(self, x, domain=None):
        return self.encoder(x)

    def forward_rows(self, x):
        """Pair logits of all pairs of ``x`` (used to re-estimate BatchNorm statistics)."""
        return self.head(self.encoder(x))

    def forward(self, batch):
        x, y = batch.source.X, batch.source.y
        logits = self.head(self.encoder(self.augment(x)))
        return {"pair_ce": F.cross_entropy(logits, pair_targets(y).flatten().long())}


@with_parameters_doc(MEMORY_DOC_TAIL, marker="MEMORY_DOC_TAIL")
class SimilarityNetwork(DeepMixin, BaseEstimator):
    """The pairwise similarity network G of CCN, learned from class labels.

    A plain scikit-learn estimator: ``fit(X, y)`` on labelled rows (it is
    not a domain-adaptation estimator; :class:`CCN` and :class:`CCNPlus`
    use it on their source or on an auxiliary labelled set). Training
    batches hold ``classes_per_batch x samples_per_class`` rows, all their
    ordered pairs (self-pairs included) are enumerated by broadcasting and
    classified "same class" / "different class" with cross-entropy.

    Parameters
    ----------
    classes_per_batch : int, default=20
        Classes drawn per training batch.
    samples_per_class : int, default=5
        Rows drawn per class and batch.
    hidden_dim : int, default=256
        Hidden layer of the pair head (``Linear -> BN -> ReLU -> Linear``).
    embedding_dim : int, default=64
        Output dimension of the backbone.
    hidden_dims : sequence of int, default=(256, 128)
        Hidden layers of the default MLP backbone (vectors).
    encoder : torch.nn.Module, default=None
        A user backbone mapping a batch of rows to ``(B, embedding_dim)``;
        None builds an MLP for vectors and a small conv net for images.
        A copy is trained from the module's current weights: ``random_state``
        does not re-initialise it (seed torch before building it when runs must
        repeat across processes).
    input_shape : tuple, default=None
        Shape of one image when images come flat, e.g. ``(28, 28)``.
    augment : float or "auto", default="auto"
        Strength of a random affine jitter of image rows during training
        (:class:`skhda.nn.RandomAffine`, the same meaning in every skhda
        estimator: rotation ``+-20 a`` degrees, scale ``1 +- 0.2 a``, shift
        ``+-15 a`` % of the side); 0: off; not in the paper. ``"auto"``: 0.5
        for images (the strength of CCN's views), 0 for vectors (no jitter
        applies). On USPS cross-task class splits (source classes -> other
        target classes) G trained on jittered images raised CCN's target ACC
        by 0.047 on average over 12 fits (K known and ``n_clusters=100``)
        and brought the number of dominant clusters with
        ``n_clusters=100`` closer to the truth (``|NDC - 5|`` 3.5 -> 2.2);
        it was 0 before (``doc/benchmarks/ccn.md``). The value used is
        ``augment_``.
    epochs : int, default=30
        Epochs of ``ceil(n / batch)`` steps.
    lr : float, default=1e-3
        Adam learning rate.
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    callbacks : list of skorch callbacks, default=None
    memory : str or object with the joblib.Memory interface, default=None
        Caches the trained net, as scikit-learn's ``Pipeline(memory=...)``
        caches transformers: a path (or a :class:`joblib.Memory`) where it
        is stored. A later fit on the same rows with the same settings and
        ``random_state`` (on the same device type and torch thread count)
        restores it instead of training again: the same net. :class:`CCN`
        and :class:`CCNPlus` pass their ``memory`` to the G they fit, so a
        grid search over their clustering parameters trains G once.
        MEMORY_DOC_TAIL

    Attributes
    ----------
    net_ : skhda.DomainNet
        The trained net (``net_.module_`` holds ``encoder`` and ``head``).
    history_ : skorch.History
    augment_ : float
        The jitter strength used (``augment`` with ``"auto"`` resolved).
    classes_ : ndarray
        The classes seen in ``fit``.
    n_features_in_ : int

    See Also
    --------
    CCN, CCNPlus, pair_precision_recall

    Examples
    --------
    >>> from skhda.ccn import SimilarityNetwork
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> G = SimilarityNetwork(classes_per_batch=5, epochs=3, random_state=0).fit(Xs / 16, ys)
    >>> G.similarity_matrix(Xt[:10] / 16).shape
    (10, 10)
    >>> G.predict_proba(Xt[:3] / 16, Xt[3:6] / 16).shape
    (3, 2)
    """

    _main_stage = "similarity"
    _stages = ("similarity",)

    def __init__(self, classes_per_batch=20, samples_per_class=5, *, hidden_dim=256,
                 embedding_dim=64, hidden_dims=(256, 128), encoder=None, input_shape=None,
                 augment="auto", epochs=30, lr=1e-3, device="auto", random_state=None,
                 verbose=0, callbacks=None, memory=None):
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.hidden_dim = hidden_dim
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.augment = augment
        self.epochs = epochs
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.memory = memory

    _parameter_constraints: dict = {
        **DeepMixin._parameter_constraints,
        "memory": memory_option(),
        "classes_per_batch": [Interval(Integral, 2, None, closed="left")],
        "samples_per_class": positive_int(),
        "hidden_dim": positive_int(),
        "augment": [StrOptions({"auto"}), *non_negative_real()],
        "encoder": [None, nn.Module],
    }

    def fit(self, X, y):
        """Learn the pairwise similarity of the rows of ``X`` from their classes ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Vectors, or images as (n, h, w), (n, c, h, w) or flat with
            ``input_shape``.
        y : array-like of shape (n_samples,)
            Class labels (at least 2 classes).

        Returns
        -------
        self
        """
        reset_fitted_state(self)
        try:
            return self._fit(X, y)
        except BaseException:   # a failed or interrupted fit leaves it unfitted
            reset_fitted_state(self)
            raise

    def _fit(self, X, y):
        self._validate_params()
        self._check_callbacks()
        X = check_X(X, "X", self.input_shape)
        y = _check_y(y, "y", len(X), "X")
        labels = LabelEncoder().fit(y)
        if len(labels.classes_) < 2:
            raise ValueError("y has 1 class; SimilarityNetwork needs at least 2 classes.")
        batch = int(self.classes_per_batch) * int(self.samples_per_class)
        with self._seeded():
            if self.encoder is not None:
                encoder = copy.deepcopy(self.encoder)
            else:
                encoder = make_encoder(X.shape[1:], self.embedding_dim, tuple(self.hidden_dims))
            model = _SimilarityModel(encoder, self.embedding_dim, self.hidden_dim,
                                     self._augment(X))
            dataset = DomainDataset(source={"X": X, "y": labels.transform(y)})
            net = self._train_stage(
                "similarity", model, dataset, self.epochs, batch_size=batch,
                steps_per_epoch=max(1, math.ceil(len(X) / batch)),
                iterator_train=ClassBalancedBatchIterator,
                iterator_train__classes_per_batch=self.classes_per_batch,
                iterator_train__samples_per_class=self.samples_per_class,
                cache=True,
            )
        self.net_ = net
        self.augment_ = self._augment(X)
        self.classes_ = labels.classes_
        self.input_shape_ = X.shape[1:]
        self.n_features_in_ = int(math.prod(X.shape[1:]))
        return self

    def _augment(self, X):
        """``augment``; ``"auto"``: ``_AUTO_IMAGE_AUGMENT`` for image rows, else 0."""
        if self.augment == "auto":
            return _AUTO_IMAGE_AUGMENT if X.ndim > 2 else 0.0
        return float(self.augment)

    # ---------------------------------------------------------- inference
    def _validate(self, X, name="X"):
        check_is_fitted(self, "net_")
        return check_X_shape(X, name, self.input_shape_, "SimilarityNetwork", self.input_shape_)

    def _module(self, adapt_to=None, seed=0):
        model = self.net_.module_
        if adapt_to is not None:
            model = adapt_batchnorm(model, adapt_to, self.net_.device,
                                    forward=model.forward_rows, seed=seed)
        return model

    def transform(self, X):
        """The backbone embedding of ``X``, shape ``(n, embedding_dim)``."""
        X = self._validate(X)
        model = self.net_.module_
        return batched_apply(model.encoder, X, self.net_.device, module=model)

    def predict_proba(self, X_left, X_right):
        """``[P(dissimilar), P(similar)]`` of the aligned pairs ``(X_left[i], X_right[i])``.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
        """
        Zl = torch.as_tensor(self.transform(X_left))
        Zr = torch.as_tensor(self.transform(X_right))
        if len(Zl) != len(Zr):
            raise ValueError(f"X_left has {len(Zl)} rows and X_right {len(Zr)}; they must match.")
        head = self.net_.module_.head
        return batched_apply(lambda z: head.pair_logits(z[:, 0], z[:, 1]).softmax(1),
                             torch.stack([Zl, Zr], 1), self.net_.device, module=head)

    def predict(self, X_left, X_right):
        """1 where the aligned pair is predicted similar (same class), else 0."""
        return (self.predict_proba(X_left, X_right)[:, 1] > 0.5).astype(np.int64)

    def similarity_matrix(self, X, adapt_batchnorm=False):
        """``P(similar)`` of every ordered pair of the rows of ``X``, shape ``(n, n)``.

        Memory: the ``n x n`` float32 result (``4 n^2`` bytes, 400 MB at
        ``n = 10,000``) plus about 8 MiB of intermediates (row blocks sized
        from that budget); for larger ``n`` score the pairs you need with
        :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        adapt_batchnorm : bool, default=False
            Re-estimate the BatchNorm statistics on ``X`` first (AdaBN; the
            fitted network is not changed).
        """
        X = self._validate(X)
        model = self._module(X if adapt_batchnorm else None)
        was = model.training
        try:
            with torch.no_grad():
                Z = batched_apply(model.encoder, X, self.net_.device, module=model)
                model.eval()
                S = model.head.similarity_matrix(torch.as_tensor(Z).to(self.net_.device))
        finally:
            model.train(was)
        return S.cpu().numpy()

    def pair_scores(self, X, y, adapt_batchnorm=False, threshold=0.5):
        """Similar/dissimilar pair precision and recall on labelled rows.

        See :func:`pair_precision_recall`.
        """
        S = self.similarity_matrix(X, adapt_batchnorm=adapt_batchnorm)
        return pair_precision_recall(np.asarray(y), S, threshold)

    def _pair_model(self, X, adapt_batchnorm, seed=0):
        """(frozen copy of the model, embedding of ``X``) used by CCN/CCN+."""
        model = copy.deepcopy(self._module(X if adapt_batchnorm else None, seed))
        model.eval().requires_grad_(False)
        Z = batched_apply(model.encoder, X, self.net_.device, module=model)
        return model.head, Z


# -------------------------------------------------------- clustering nets
class _PairSupervision(nn.Module):
    """Frozen G head: the binarised ``B x B`` pair labels of a batch's G embeddings.

    With ``knn`` (the target rows' neighbour lists, ``(n, k + 1)``, CCN's
    ``target_graph="snn"``), the target's own shared-nearest-neighbour graph
    overrides G where it is confident: a pair whose lists share more than
    ``snn_positive`` of their entries is similar, a pair sharing none is
    dissimilar, and G labels the pairs in between. The overlap is counted on
    the batch's lists only (memory ``O(B^2 k)``, never ``O(n)`` per pair).
    """

    def __init__(self, head, threshold=0.5, knn=None, snn_positive=0.1):
        super().__init__()
        self.head = head
        self.threshold = threshold
        self.snn_positive = snn_positive
        self.register_buffer("knn", knn, persistent=False)

    def train(self, mode=True):
        return super().train(False)  # G is fixed: always its (adapted) running statistics

    @torch.no_grad()
    def forward(self, g, index=None):
        labels = (self.head.similarity_matrix(g) > self.threshold).float()
        if self.knn is None or index is None:
            return labels
        snn = shared_neighbours(self.knn[index.long()])
        return torch.where(snn > self.snn_positive, 1.0, torch.where(snn == 0, 0.0, labels))

    def release_graph(self):
        self.knn = None


class _ClusteringModel(nn.Module):
    """Backbone -> BN -> ReLU -> K logits; pairwise loss on target batches (CCN)."""

    loss_terms = ("cluster", "contrastive")

    def __init__(self, encoder, embedding_dim, n_outputs, loss, supervision, contrast=None):
        super().__init__()
        self.encoder = encoder
        self.classifier = nn.Sequential(nn.BatchNorm1d(embedding_dim), nn.ReLU(),
                                        nn.Linear(embedding_dim, n_outputs))
        self.loss = loss
        self.supervision = supervision
        self.contrast = contrast

    def embed(self, x, domain):
        return self.encoder(x, domain)

    def logits(self, x, domain):
        return self.classifier(self.encoder(x, domain))

    def forward(self, batch):
        t = batch.target
        out = {"cluster": self.loss(self.logits(t.X, "target"), self.supervision(t.g, t.index))}
        if self.contrast is not None:   # ours: NT-Xent between two views of the target batch
            out["contrastive"], _ = self.contrast(lambda x: self.encoder(x, "target"), t.X)
        return out


class _TransferModel(_ClusteringModel):
    """CCN+ / CCN++: CE on source, pairwise loss on target, optional DANN discriminator.

    With the clustering term (CCN+, CCN++) both domains' rows of a step go
    through the network in one pass, so BatchNorm normalises their mixture.
    Without it (DANN, ``lambda_cluster=0``; the source-only net) each domain
    goes through in its own pass, so that every BatchNorm layer normalises a
    domain with that domain's batch statistics (the labelled target rows
    join the target's pass): with one pass over the 1:3 source:target
    mixture, DANN fell to 0.56 on MNIST -> USPS (quick protocol, 2 seeds),
    below SourceOnly's 0.79; a pass per domain gave 0.80, and 0.91 with the
    confusion term on the hidden features as well. With the clustering term
    the pass per domain cost CCN+ 0.02 and CCN++ 0.015 over three digit
    proxies (MNIST -> USPS, sklearn digits <-> USPS; both scored with the
    statistics below).
    The discriminator reads the classifier's hidden features (after its
    BatchNorm and ReLU) and the features play the domain-confusion side
    (``DomainDiscriminator(feature_loss="confusion")``): a reversed gradient
    let the features overshoot (discriminator losses far above ``log 2``)
    and derail training. After training, :class:`~skhda.DomainStatistics`
    re-estimates the BatchNorm statistics on each domain's rows, and each
    domain is predicted with its own (+0.005 to +0.02 on the proxies). All
    chosen on those proxies (``doc/benchmarks/ccn.md``).
    """

    loss_terms = ("ce", "ce_target", "cluster", "adversarial", "contrastive")

    def __init__(self, encoder, embedding_dim, n_outputs, loss, supervision, adversarial,
                 contrast=None):
        super().__init__(encoder, embedding_dim, n_outputs, loss, supervision, contrast)
        self.discriminator = (DomainDiscriminator(embedding_dim, feature_loss="confusion")
                              if adversarial else None)
        self.statistics = DomainStatistics(self.encoder, self.classifier)

    def embed(self, x, domain):
        self.statistics.use(domain)
        return super().embed(x, domain)

    def logits(self, x, domain):
        self.statistics.use(domain)
        return super().logits(x, domain)

    def hidden(self, x, domain):
        """The classifier's hidden features (after its BatchNorm and ReLU); training only."""
        return self.classifier[:-1](self.encoder(x, domain))

    def _hidden_both(self, xs, xt):
        """Hidden features of the source and target rows: one pass, or a pass per domain."""
        if self.supervision is None:   # no clustering term: a pass per domain
            return self.hidden(xs, "source"), self.hidden(xt, "target")
        if self.encoder.shared:
            z = self.encoder(torch.cat([xs, xt]), "source")
        else:   # per-domain encoders (heterogeneous features), one classifier pass
            z = torch.cat([self.encoder(xs, "source"), self.encoder(xt, "target")])
        h = self.classifier[:-1](z)
        return h[:len(xs)], h[len(xs):]

    def forward(self, batch):
        s, t = batch.source, batch.target
        lab = batch.labelled if "labelled" in batch else None
        n_t = len(t.X)
        xt = t.X if lab is None else torch.cat([t.X, lab.X])
        hs, ht = self._hidden_both(s.X, xt)
        head = self.classifier[-1]
        lt = head(ht)
        out = {"ce": F.cross_entropy(head(hs), s.y)}
        if lab is not None:   # labelled target rows (needed with heterogeneous features)
            out["ce_target"] = F.cross_entropy(lt[n_t:], lab.y)
        if self.supervision is not None:
            out["cluster"] = self.loss(lt[:n_t], self.supervision(t.g))
        if self.discriminator is not None:
            out["adversarial"] = self.discriminator(hs, ht[:n_t])
        if self.contrast is not None:   # ours: NT-Xent between two views of the target batch
            out["contrastive"], _ = self.contrast(lambda x: self.encoder(x, "target"), t.X)
        return out


_DEEP_DOC = """
    embedding_dim : int, default=128
        Hidden layer of the clustering network (output of its backbone).
    hidden_dims : sequence of int, default=(256, 128)
        Hidden layers of the default MLP backbone (vectors).
    epochs : int, default=30
""" + TRAINING_PARAMETERS_DOC + """\
    memory : str or object with the joblib.Memory interface, default=None
        Caches the similarity network G that the fit trains (it is given
        this ``memory`` when ``similarity`` is None or an unfitted G without
        one) and, for CCN, the target's t-SNE map (vectors, and images when
        ``target_graph="auto"`` reads it), as
        scikit-learn's ``Pipeline(memory=...)`` caches transformers: a path
        (or a :class:`joblib.Memory`) where they are stored. A grid search
        over the clustering network's parameters, or CCN beside CCN+ on one
        source, then trains G once per seed; a restored G is the trained
        one, so the fit ends with the same labels.
""" + MEMORY_DOC_TAIL


_deep_doc = with_parameters_doc(_DEEP_DOC)


class _CCNBase(LogitsClassifierMixin, BaseDeepDA):
    """What CCN and CCN+ share: the loss switch and the similarity network G."""

    def _capabilities(self):
        # source labels are needed to learn G, unless a fitted one is given
        sim = self.similarity
        learns_g = not isinstance(sim, (SimilarityNetwork, FrozenEstimator)) or not _is_fitted(
            _resolve_similarity(sim))
        return Capabilities(requires_source_labels=learns_g, heterogeneous=False)

    _parameter_constraints: dict = {
        **BaseDeepDA._parameter_constraints,
        "loss": [StrOptions(set(_LOSSES))],
        "margin": positive_real(),
        "similarity": [None, SimilarityNetwork, FrozenEstimator],
        "similarity_bn": [StrOptions({"target", "source"})],
        "lambda_contrastive": non_negative_real(),
        "augment": non_negative_real(),
        "memory": memory_option(),
    }

    def _check_params_vs_input(self, data):
        if self.similarity is not None:
            _resolve_similarity(self.similarity)

    def _make_loss(self):
        return KCL(self.margin) if self.loss == "kcl" else MCL()

    def _contrast_weight(self, data):
        """``lambda_contrastive`` as given (CCN resolves ``"auto"``)."""
        return float(self.lambda_contrastive)

    def _target_contrast(self, data):
        """The contrastive term on the target images (ours) and its loss weight, or Nones."""
        lam = self._contrast_weight(data)
        if lam == 0:
            return None, None
        return self._make_contrast(data.shapes["target"]), {"contrastive": lam}

    def _similarity_network(self, data):
        """The fitted G: ``similarity`` as given when fitted, else fitted on the source.

        With heterogeneous features (CCN+), G is fitted on the labelled target rows.
        """
        sim = self.similarity
        if sim is not None and _is_fitted(_resolve_similarity(sim)):
            G = _resolve_similarity(sim)
            if G.n_features_in_ != math.prod(data.shapes["target"]):
                raise ValueError(
                    f"similarity was fitted on rows of {G.n_features_in_} features, but "
                    f"X_target has {math.prod(data.shapes['target'])}."
                )
            return G
        if data.y_source is None:
            raise ValueError(
                f"y_source is required by {type(self).__name__} to learn its similarity "
                "network (or pass a fitted similarity=SimilarityNetwork(...))."
            )
        if sim is None:
            G = SimilarityNetwork(device=self.device, verbose=self.verbose)
        else:
            G = clone(_resolve_similarity(sim))
        if G.random_state is None:
            G.set_params(random_state=self._fit_seed)
            if self._memory() is None:   # a fresh seed per fit: an entry never read again
                G.set_params(memory=None)
        if G.memory is None and self._memory() is not None:   # trained once per seed
            G.set_params(memory=self.memory)
        if data.heterogeneous:   # CCN+ with other target features: G learns the target's
            mask = data.labelled_target
            return G.fit(data.X_target[mask], data.y_target[mask])
        return G.fit(data.X_source, data.y_source)

    def _pair_supervision(self, data, knn=None):
        """G's pair labels for the target rows; ``knn()`` (called after G is checked and
        fitted, so that bad input fails first) gives the target graph's lists."""
        G = self._similarity_network(data)
        self.similarity_ = G
        knn = knn() if callable(knn) else knn
        Xt = data.X_target.reshape(len(data.X_target), *G.input_shape_)
        head, Zg = G._pair_model(Xt, self.similarity_bn == "target", seed=self._fit_seed)
        return _PairSupervision(head, knn=knn), Zg



@_deep_doc
class CCN(_CCNBase):
    """Constrained clustering network: cross-task clustering of unseen classes.

    Learns the similarity network G on the labelled source (or uses a
    fitted ``similarity``), then trains a clustering network on the target
    rows only: G labels every pair of each target batch as similar or not,
    and the network's softmax outputs are fitted to these pair labels with
    the learnable clustering objective (KCL, the paper's LCO, or MCL).
    The source classes and the target classes are unrelated ("cross-task
    clustering"); ``n_clusters`` may be an upper bound (e.g. 100), the
    network then leaves the surplus clusters nearly empty and
    ``n_clusters_found_`` is the number of dominant clusters.

    Parameters
    ----------
    n_clusters : int, default=None
        Output nodes ``K`` (an upper bound when the count is unknown).
        None: the number of source classes.
    loss : {"kcl", "mcl"}, default="mcl"
        KCL (KL divergence with a detached target, hinge margin; the paper's
        LCO) or MCL (binary cross-entropy on ``p_i . p_j``). MCL by default
        (it was "kcl" before skhda's issue 16): with ``n_clusters=100`` on 5
        unseen digit classes it leaves 5.3 +- 0.6 dominant clusters where KCL
        leaves 15.7 +- 2.7, at 0.909 +- 0.044 against 0.921 +- 0.040 target
        accuracy with the true K (digits class splits, 18 fits each,
        ``doc/benchmarks/defaults_ccn_xdc.md``); on Omniglot it was also the
        better one (``doc/benchmarks/ccn.md``).
    margin : float, default=2.0
        KCL's hinge margin ``sigma``.
    similarity : SimilarityNetwork, default=None
        G. None: a default :class:`SimilarityNetwork` fitted on the source
        (on image rows it trains on jittered images, ``augment="auto"``).
        An unfitted one is fitted on the source with its own parameters; a
        fitted one is used as is (wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to keep it fitted through
        ``clone`` / grid searches) and ``y_source`` may then be None.
    similarity_bn : {"target", "source"}, default="target"
        "target": re-estimate G's BatchNorm statistics on the target rows
        (AdaBN, beyond the paper); "source": use G as trained.
    lambda_contrastive : float or "auto", default="auto"
        Weight of a SimCLR-style contrastive term on the target images
        (NT-Xent between two random views of each batch, through a
        projection head; :class:`skhda.nn.layers.TwoViewContrast`) added to
        the clustering objective. Ours, image inputs only: G's pair labels
        are sparse where G is weak (similar-pair recall 0.2-0.6 on unseen
        Omniglot alphabets), and the contrastive term teaches the clustering
        network features of the target images themselves. ``"auto"``: 1 when
        the target rows are images, 0 for vectors (no views to draw; their
        target graph does that job). Chosen on the Omniglot proxy split (G
        on alphabets 0-1, alphabets 2 and 3 clustered, seeds 0-1): 0.560 /
        0.567 target ACC with K known / ``n_clusters=100`` against 0.465 /
        0.458 without the term; on alphabets 4-7 (reported once) 0.585 /
        0.544 against 0.587 / 0.488, at 1.7x / 5x the fit time
        (``doc/benchmarks/ccn.md``). 0 is the paper's CCN.
    augment : float, default=0.5
        Strength of the random views of ``lambda_contrastive``
        (:class:`skhda.nn.RandomAffine`, the same meaning in every skhda
        estimator: rotation ``+-20 a`` degrees, scale ``1 +- 0.2 a``, shift
        ``+-15 a`` % of the side; the views also vary brightness ``1 +- 0.5 a``).
    target_graph : {"auto", "tsne", "snn", "off"}, default="auto"
        Pair labels from the target's own neighbourhood graph, combined with
        G's (ours). "snn": each target row's ``n_neighbors`` nearest target
        rows (Euclidean, itself included) are listed; a batch pair whose lists
        share more than 10 % of their entries is labelled similar, a pair
        sharing none dissimilar, and G labels the pairs in between. "tsne":
        the same rule with the lists taken in a 2-d t-SNE map of the
        L2-normalised target rows (:func:`skhda.nn.graph.tsne_map`), whose
        neighbourhoods follow the manifold of the data (as N2D's) rather than
        its raw geometry. "off": G labels every pair (the paper). "auto":
        "tsne" for feature vectors up to 5,000 target rows (t-SNE costs
        seconds there), "snn" for larger vector targets. Images (up to
        10,000 target rows) take "tsne" when two clusterings of the target
        pixels with ``n_clusters`` clusters, k-means on the t-SNE map and
        spectral clustering of the 10-NN graph, agree on at least 65 % of
        the rows (``target_agreement_``), else "off". On digits class splits
        with the true K they agree (0.70-0.97) and the graph lifted CCN from
        0.69-0.75 to 0.69-0.98; on Omniglot alphabets, whose pixel
        neighbourhoods are not the characters', and with an upper bound such
        as ``n_clusters=100``, they do not (0.47-0.59), and G stays alone.
        Why: on vectors, a G learned on the source classes generalises poorly
        to unseen classes (on digits class splits other than the demo's,
        target similar-pair precision / recall 0.44-0.59 / 0.26-0.45, while
        the raw 10-NN lists are 97-99 % pure); the raw neighbourhood labels
        lift the target accuracy from 0.65 to 0.92 on those splits, and the
        t-SNE map's to 0.95 (``doc/benchmarks/defaults_ccn_xdc.md``). The
        image rule: ``doc/benchmarks/ccn.md``, "The image rule of
        target_graph" (the image benchmarks before it ran with G alone).
    n_neighbors : int or "auto", default="auto"
        Neighbours per target row of ``target_graph``. "auto": for "snn",
        ``round(4 / 3 * sqrt(n_target))`` (40 at 900 rows); for "tsne",
        twice that (80 at 900 rows: in the 2-d map 40 neighbours left
        ``n_clusters=100`` over-splitting 5 digit classes into 6-8 dominant
        clusters, 80 found 5 on every proxy split, 120 merged them into 4);
        at least 5 and at most ``n_target - 1``.
    n_init : int or "auto", default="auto"
        Train this many clustering networks (same pair labels, new random
        weights) and keep the one whose partition of the target rows cuts
        their 10-nearest-neighbour graph least: the lowest mean share of
        edges leaving each of its non-empty clusters (ours, as
        :class:`~sklearn.cluster.KMeans` restarts, no labels involved;
        :func:`skhda.metrics.knn_normalized_cut` with ``reduce="mean"``, which
        does not favour using more clusters when ``n_clusters`` is an upper
        bound). ``"auto"``: 3 when
        ``target_graph`` is on (feature vectors: a few seconds a fit), else 1;
        1 also where the image rule of ``target_graph="auto"`` turns it on
        (a CCN image fit takes minutes on a CPU; the rule was chosen on single runs)
        (the ranking trusts the target's neighbourhoods as the graph does). On the digits proxies,
        3 restarts kept by the cut scored 0.964 +- 0.021 against 0.954 +-
        0.038 for single fits (``doc/benchmarks/defaults_ccn_xdc.md``).
    batch_size : int, default=100
        Target rows per step (``batch_size^2`` pairs per step).
    DEEP_PARAMETERS

    Attributes
    ----------
    net_ : skhda.DomainNet
        The clustering network's net.
    similarity_ : SimilarityNetwork
        The fitted G.
    labels_ : ndarray of shape (n_target,)
        Cluster of each fitted target row.
    n_clusters_found_ : int
        Number of dominant clusters among ``labels_``
        (:func:`skhda.metrics.n_dominant_clusters`).
    target_graph_ : {"tsne", "snn", "off"}
        The ``target_graph`` used (``"auto"`` resolved).
    target_agreement_ : float or None
        The agreement of the two pixel clusterings that ``target_graph="auto"``
        reads on images (None when the rule did not run).
    n_neighbors_ : int or None
        The neighbours per row of the target graph (None when it is off).
    n_init_ : int
        The number of clustering networks trained (``n_init`` resolved).
    lambda_contrastive_ : float
        The contrastive term's weight used (``"auto"`` resolved).
    init_scores_ : list of float
        The normalised cut of each one's target partition (all 0 for one).
    history_ : skorch.History

    See Also
    --------
    SimilarityNetwork, CCNPlus

    Examples
    --------
    >>> from skhda.ccn import CCN, SimilarityNetwork
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> G = SimilarityNetwork(classes_per_batch=5, epochs=3)
    >>> est = CCN(n_clusters=5, loss="mcl", similarity=G, epochs=2, random_state=0)
    >>> est.fit_predict(Xs / 16, ys, Xt / 16).shape
    (896,)
    """

    _main_stage = "cluster"
    _stages = ("cluster",)

    _parameter_constraints: dict = {
        **_CCNBase._parameter_constraints,
        "target_graph": [StrOptions({"auto", "tsne", "snn", "off"})],
        "n_neighbors": [StrOptions({"auto"}), positive_int()[0]],
        "n_init": [StrOptions({"auto"}), positive_int()[0]],
        "lambda_contrastive": [StrOptions({"auto"}), *non_negative_real()],
    }

    def __init__(self, n_clusters=None, *, loss="mcl", margin=2.0, similarity=None,
                 similarity_bn="target", lambda_contrastive="auto", augment=0.5,
                 target_graph="auto", n_neighbors="auto", n_init="auto",
                 embedding_dim=128, hidden_dims=(256, 128),
                 encoder=None, input_shape=None, epochs=30, batch_size=100, lr=1e-3,
                 device="auto", random_state=None, verbose=0, callbacks=None,
                 memory=None):
        self.n_clusters = n_clusters
        self.loss = loss
        self.margin = margin
        self.similarity = similarity
        self.similarity_bn = similarity_bn
        self.lambda_contrastive = lambda_contrastive
        self.augment = augment
        self.target_graph = target_graph
        self.n_neighbors = n_neighbors
        self.n_init = n_init
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
        self.memory = memory

    def _target_knn(self, data):
        """The target rows' neighbour lists of ``target_graph`` (None when it is off)."""
        graph = self.target_graph
        n = len(data.X_target)
        self.target_agreement_ = None
        E = None   # the target's t-SNE map, when the image rule made it
        if graph == "auto":   # the target's own graph for vectors; images: see _image_graph
            if data.images("target"):
                graph, E = self._image_graph(data)
            else:
                graph = "tsne" if n <= TSNE_MAX_ROWS else "snn"
        self.target_graph_ = graph
        self.n_neighbors_ = None
        if graph == "off" or n < 2:
            return None
        k = self.n_neighbors
        if k == "auto":   # the t-SNE map's neighbourhoods are tighter: twice as many
            k = max(5, round((8 / 3 if graph == "tsne" else 4 / 3) * math.sqrt(n)))
        k = int(k)
        self.n_neighbors_ = min(k, n - 1)
        X = data.X_target.reshape(n, -1)
        if graph == "tsne":
            X = E if E is not None else self._tsne_map(X)
        return torch.as_tensor(knn_indices(X, self.n_neighbors_, metric="euclidean"))

    def _tsne_map(self, X):
        """The 2-d t-SNE map of the (flat) target rows, through ``memory``."""
        if len(X) <= 3:
            return X
        return cached_call(self._memory(), tsne_map, X, random_state=self._sklearn_seed)

    def _image_graph(self, data):
        """``target_graph="auto"`` on images: ``("tsne", map)`` or ``("off", None)``.

        The t-SNE graph when k-means on the target's t-SNE map and spectral
        clustering of its 10-NN graph, both with ``n_clusters`` clusters,
        agree on at least ``_AUTO_IMAGE_AGREEMENT`` of the rows (Hungarian
        matching; ``target_agreement_``): the pixels' neighbourhoods then
        hold the clusters. Targets too large for t-SNE, with at most
        ``n_clusters + 1`` rows, or of identical rows keep G alone.
        """
        X = data.X_target.reshape(len(data.X_target), -1)
        k = self._n_clusters(data)
        if len(X) > TSNE_MAX_IMAGE_ROWS or len(X) <= k + 1 or np.ptp(X, axis=0).max() == 0:
            return "off", None   # too large for t-SNE, too few rows, or all rows alike
        E = self._tsne_map(X)
        seed = self._sklearn_seed
        self.target_agreement_ = float(cluster_accuracy(map_kmeans_labels(E, k, seed),
                                                        spectral_labels(X, k, 10, seed)))
        return ("tsne" if self.target_agreement_ >= _AUTO_IMAGE_AGREEMENT else "off"), E

    def _contrast_weight(self, data):
        """``lambda_contrastive``; ``"auto"``: ``_AUTO_IMAGE_CONTRAST`` on target images, else 0."""
        lam = self.lambda_contrastive
        if lam == "auto":
            lam = _AUTO_IMAGE_CONTRAST if data.images("target") else 0.0
        self.lambda_contrastive_ = float(lam)
        return self.lambda_contrastive_

    def _n_restarts(self, data):
        """``n_init``; ``"auto"``: 3 when the target graph is on, except where the image
        rule of ``target_graph="auto"`` turned it on (1, as it was chosen), else 1."""
        if self.n_init == "auto":
            image_rule = self.target_graph == "auto" and data.images("target")
            return 3 if self.target_graph_ != "off" and not image_rule else 1
        return int(self.n_init)

    def _fit_deep(self, data):
        k = self._n_clusters(data)
        contrast, weights = self._target_contrast(data)
        supervision, Zg = self._pair_supervision(data, lambda: self._target_knn(data))
        dataset = data.dataset(source=None, extra={"target": {"g": Zg}})
        self.n_init_ = self._n_restarts(data)

        def build():   # one run of n_init: G's pair labels are shared, the net is new
            return _ClusteringModel(self._make_encoder(data), self.embedding_dim, k,
                                    self._make_loss(), supervision,
                                    copy.deepcopy(contrast)), dataset

        Xt = data.X_target
        rank = (graph_cut_rank(knn_indices(Xt.reshape(len(Xt), -1), 10), k,
                               lambda net: self._labels(Xt, net=net),
                               reduce="mean")   # n_clusters may be an upper bound
                if self.n_init_ > 1 and self.epochs > 0 else lambda net: 0.0)
        self.net_, self.init_scores_ = self._train_restarts(
            "cluster", self.n_init_, build, self.epochs, rank, loss_weights=weights)
        supervision.release_graph()
        self.labels_ = self._labels(data.X_target)
        self.n_clusters_found_ = int(n_dominant_clusters(self.labels_, k))

    def _labels(self, X, domain="target", net=None):
        net = self.net_ if net is None else net
        model = net.module_
        return batched_apply(lambda x: model.logits(x, domain).argmax(1), X,
                             net.device, module=model)

    def predict(self, X, domain="target"):
        """Cluster of each row of ``X`` (ids ``0..n_clusters-1``)."""
        return self._labels(self._validate_X(X, domain), domain)

    def fit_predict(self, X_source, y_source=None, X_target=None, y_target=None):
        """Fit, then return the clusters of the fitted target rows (``labels_``)."""
        return self.fit(X_source, y_source, X_target, y_target).labels_.copy()


@_deep_doc
class CCNPlus(_CCNBase):
    """CCN+ / CCN++: domain adaptation with shared labels through the clustering objective.

    One network with one output head over the source classes: each step
    takes a labelled source batch (cross-entropy) and an unlabelled target
    batch, whose pairs G labels (the learnable clustering objective pulls
    the target outputs into clusters). With ``adversarial=True`` a DANN
    domain discriminator is added: CCN++. It reads the classifier's hidden
    features, and the features minimise its domain confusion (cross-entropy
    against 1/2, Tzeng et al. 2015) with a weight raised as
    ``2 / (1 + exp(-10 p)) - 1`` over training progress ``p``, rather than
    receiving its reversed gradient (the reversal overshot and derailed
    training on digits; ``doc/benchmarks/ccn.md``). ``lambda_cluster=0``
    drops the clustering term (then with ``adversarial=True`` this is DANN,
    and no G is learned). With the clustering term, a step's source and
    target rows go through the network in one pass (BatchNorm normalises
    their mixture); without it (DANN, the source-only net) each domain goes
    through in its own pass (BatchNorm normalises each with its own batch
    statistics). After training the BatchNorm statistics are re-estimated
    on each domain's rows, and ``predict(X, domain)`` uses that domain's
    (:class:`~skhda.DomainStatistics`). Chosen on three digit proxies
    (``doc/benchmarks/ccn.md``).

    Labelled target rows (``y_target`` != -1) add a cross-entropy term
    (``ce_target``). The target may have other features than the source
    (heterogeneous features): each domain then gets its own encoder, the
    labelled target rows are required (they tie the target encoder to the
    classes, with the clustering objective on all target rows), and the
    default G is learned on them (or pass a ``similarity`` fitted on rows with
    the target's features).

    Parameters
    ----------
    loss : {"kcl", "mcl"}, default="kcl"
    margin : float, default=2.0
        KCL's hinge margin ``sigma``.
    similarity : SimilarityNetwork, default=None
        G. None: a default :class:`SimilarityNetwork` learned on the source
        labels (jittered images, ``augment="auto"``). A fitted one (e.g. on an
        auxiliary labelled set with the target's features) is used as is.
    similarity_bn : {"target", "source"}, default="target"
        Re-estimate G's BatchNorm statistics on the target rows (AdaBN).
    adversarial : bool, default=False
        Add the DANN discriminator (CCN++).
    lambda_cluster : float, default=1.0
        Weight of the clustering term.
    lambda_adversarial : float, default=1.0
        Weight of the domain-adversarial term.
    lambda_contrastive : float, default=0.0
        Weight of a SimCLR-style contrastive term on the target images (NT-Xent
        between two random views of each target batch; ours, image inputs
        only, as in :class:`CCN`). 0 is the paper's CCN+ / CCN++.
    augment : float, default=0.5
        Strength of the random views of ``lambda_contrastive``
        (:class:`skhda.nn.RandomAffine`, as in :class:`CCN`).
    source_batch_size : int, default=32
        Source rows per step.
    batch_size : int, default=96
        Target rows per step.
    DEEP_PARAMETERS

    Attributes
    ----------
    classes_ : ndarray
        The source classes; ``predict`` returns labels from them.
    similarity_ : SimilarityNetwork
        The fitted G (absent when ``lambda_cluster=0``).
    net_ : skhda.DomainNet
    history_ : skorch.History

    See Also
    --------
    CCN, SimilarityNetwork

    Examples
    --------
    >>> from skhda.ccn import CCNPlus, SimilarityNetwork
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer("shared")
    >>> G = SimilarityNetwork(epochs=3)
    >>> est = CCNPlus(adversarial=True, similarity=G, epochs=2, random_state=0)
    >>> est = est.fit(Xs / 16, ys, Xt / 16)
    >>> est.predict(Xt / 16).shape == yt.shape
    True
    """

    _main_stage = "train"
    def _capabilities(self):   # CCN+ predicts source classes, with any target features
        return dataclasses.replace(super()._capabilities(), label_space="shared",
                                   heterogeneous=True)

    _parameter_constraints: dict = {
        **_CCNBase._parameter_constraints,
        "adversarial": ["boolean"],
        "lambda_cluster": non_negative_real(),
        "lambda_adversarial": non_negative_real(),
        "source_batch_size": positive_int(),
    }

    def __init__(self, *, loss="kcl", margin=2.0, similarity=None, similarity_bn="target",
                 adversarial=False, lambda_cluster=1.0, lambda_adversarial=1.0,
                 lambda_contrastive=0.0, augment=0.5,
                 source_batch_size=32, embedding_dim=128, hidden_dims=(256, 128),
                 encoder=None, input_shape=None, epochs=30, batch_size=96, lr=1e-3,
                 device="auto", random_state=None, verbose=0, callbacks=None,
                 memory=None):
        self.loss = loss
        self.margin = margin
        self.similarity = similarity
        self.similarity_bn = similarity_bn
        self.adversarial = adversarial
        self.lambda_cluster = lambda_cluster
        self.lambda_adversarial = lambda_adversarial
        self.lambda_contrastive = lambda_contrastive
        self.augment = augment
        self.source_batch_size = source_batch_size
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
        self.memory = memory

    def _check_params_vs_input(self, data):
        super()._check_params_vs_input(data)
        if data.heterogeneous and not data.has_target_labels:
            raise ValueError(
                "X_target has other features than X_source and y_target has no labels: "
                "CCNPlus cannot train its target encoder without labelled target rows; "
                "pass y_target with a few labels (-1 for the unlabelled rows)."
            )

    def _fit_deep(self, data):
        contrast, contrast_weight = self._target_contrast(data)
        self.classes_ = data.source_classes()[0]
        target = {}
        supervision = None
        if self.lambda_cluster > 0:
            supervision, target["g"] = self._pair_supervision(data)
        model = _TransferModel(self._make_encoder(data), self.embedding_dim, len(self.classes_),
                               self._make_loss(), supervision, self.adversarial, contrast)
        labelled = self.classes_ if data.has_target_labels else None
        dataset = data.dataset("Xy", labelled=labelled, extra={"target": target})
        callbacks = []
        if self.adversarial:
            callbacks.append(DomainDiscriminator.schedule("discriminator"))
        self.net_ = self._train_stage(
            "train", model, dataset, self.epochs, extra_callbacks=callbacks,
            batch_sizes={"source": self.source_batch_size, "target": self.batch_size},
            loss_weights={"cluster": self.lambda_cluster,
                          "adversarial": self.lambda_adversarial, **(contrast_weight or {})},
        )
        model = self.net_.module_.eval()
        rows = {"source": data.X_source, "target": data.X_target}
        model.statistics.estimate_domains(model.logits, rows, self.net_.device,
                                          seed=self._fit_seed)
