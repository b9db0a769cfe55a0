"""Concrete k-means for heterogeneous domain adaptation (CKM-UDA / CKM-SSDA), DEC/DCN-UDA.

Gao, Mao, Hospedales et al., "Concrete k-means for heterogeneous domain
adaptation" (the CKM paper). One code path, Algorithms 1 and 2:

1. stage ``"pretrain"``: autoencoder on source + target, ``L_AE`` (equation 1);
2. centroids ``M``: k-means (k-means++ seeding) on the target embedding (UDA),
   or the class means of the labelled target embeddings (SSDA, equation 6);
3. stage ``"joint"``: ``L_AE(Xs u Xt) + l1 L_clu(Xt) + l2 L_CE(Xs, ys)``
   (equation 4), plus ``l3 L_kshot(Xl_t, yl_t)`` (equation 8) when ``y_target``
   holds labels.

The clustering loss ``L_clu`` is the pluggable piece: CKM
(:class:`~skhda.nn.clustering.ConcreteKMeans`) for :class:`CKM`, DEC's for
:class:`DECAdapter`, DCN's for :class:`DCNAdapter` (the paper's DEC-UDA and
DCN-UDA). The paper's other baselines are switches of the same estimators:
``use_source="none"`` is *Target clustering* and ``use_source="reconstruction"``
is *Src+Targ clustering*.

Beyond the paper (switchable, documented in each docstring; the benchmark
``python -m skhda benchmark ckm-usps-mnist`` compares them to the paper-faithful
setting ``augment=0, standardize_embedding=False, init="kmeans++",
lambda_pseudo=0, pseudo_refresh=0, lambda_source_pretrain=0``):

- ``lambda_source_pretrain``: stage 1 trains ``L_AE + lambda L_CE(Xs, ys)``
  (the paper: ``L_AE`` only), so the encoder's features are discriminative
  for digits before any clustering;
- ``init="spectral"``: the centroids start at the means of a spectral
  clustering (kNN graph) of the target, built on the encoder's features
  (``init_features``; on the inputs when stage 1 saw no labels) instead of
  k-means on the embedding; ``init="tsne"`` starts from k-means on a t-SNE
  map of the inputs beside the encoder's features instead (``"auto"`` for
  images up to 10,000 target rows computes both and keeps the graph where
  the map agrees with it on 90 % of the rows, else the map);
- ``lambda_pseudo``: the graph's clusters are also pseudo-labels of a
  cross-entropy term of the RBF classifier ``r_M`` on the target (the
  k-shot loss of equation 7 applied to every target row), re-clustered on
  the current features every ``pseudo_refresh`` epochs (self-training);
- ``recluster``: what re-clusters them: the same spectral clustering, or
  (``"auto"`` up to 5,000 target rows of vectors, 10,000 of images, except
  after the image graph start that ``init="auto"`` keeps, which the
  spectral clustering refreshes) k-means on a t-SNE map of the inputs
  beside the encoder's features, which lets the joint stage leave a graph
  partition that merged two classes and split another;
- ``augment``: random affine jitter (rotation, scale, shift) of image
  inputs in both stages, so the embedding groups a digit with its slightly
  moved copies rather than with whatever shares its pixels;
- image inputs: after stage 2 the encoder's and the embedding's BatchNorm
  statistics are estimated on each domain's rows
  (:class:`~skhda.DomainStatistics`, AdaBN), and ``predict`` /
  ``transform`` use that domain's: the running statistics of training mix
  the target, source and labelled parts of every step (on six image proxies
  +0.0014 ACC over 18 fits; CKM-SSDA with 5 shots on USPS -> MNIST had lost
  0.03 at one seed to them, ``doc/benchmarks/ckm.md``);
- ``standardize_embedding``: a parameter-free batch standardisation
  (``BatchNorm1d(affine=False)``) of the embedding, which fixes its scale so
  that the clustering term cannot shrink it (the collapse seen with small
  reconstruction weights) and keeps ``lambda_cluster`` meaningful.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import (
    TRAINING_PARAMETERS_DOC,
    BaseDeepDA,
    Capabilities,
    with_parameters_doc,
)
from ._cache import cached_call
from ._training import DomainStatistics, LinearSchedule, PeriodicRefresh, batched_apply
from ._validation import (
    StrOptions,
    memory_option,
    non_negative_int,
    non_negative_real,
    positive_int,
    positive_real,
)
from .metrics import _relabel, cluster_accuracy
from .nn.clustering import (
    ConcreteKMeans,
    DCNClustering,
    DECClustering,
    kshot_loss,
)
from .nn.encoders import _PerDomain
from .nn.graph import (
    TSNE_MAX_IMAGE_ROWS,
    TSNE_MAX_ROWS,
    map_kmeans_labels,
    spectral_labels,
    tsne_angle,
    tsne_map,
)
from .nn.layers import RandomAffine
from .nn.losses import reconstruction_loss

__all__ = ["CKM", "DCNAdapter", "DECAdapter"]

# init="auto" on images keeps the graph start when the t-SNE map agrees with it on this
# share of the rows: the image proxies split at 0.96-0.99 (graph right) against 0.70-0.71
# (graph merged two digits), doc/benchmarks/ckm.md
_START_AGREEMENT = 0.9
_USE_SOURCE = ("all", "reconstruction", "none")
_INIT = ("auto", "kmeans++", "spectral", "tsne")
_PARTS = ("target", "source", "labelled")   # the parts' order (the iterator draws in it)


def _match_clusters(labels, reference, n_clusters, keep_known=True):
    """Relabel clusters to agree with ``reference`` (``-1`` = unknown) by Hungarian matching.

    With ``keep_known``, rows with a known reference label keep it; the
    others take their cluster's matched label.
    """
    out = _relabel(labels, reference, n_clusters)
    if keep_known:
        known = reference >= 0
        out[known] = reference[known]
    return out


def _geometric(start, end, progress):
    """Geometric interpolation from ``start`` (progress 0) to ``end`` (progress 1)."""
    return start * (end / start) ** progress


# ------------------------------------------------------------------ modules
class _AdaptiveClusteringModel(nn.Module):
    """Autoencoder + source classifier ``q_theta`` + a clustering head on the target.

    ``forward(batch)`` returns the terms of the CKM paper's equation 8 that
    the batch and the stage call for: ``rec`` (``L_AE`` over the source and
    target rows of the batch), ``cluster`` (``L_clu`` on the target rows),
    ``ce`` (``L_CE`` on the labelled source rows) and ``kshot`` (on the
    labelled target rows). With ``clustering=None`` (pretraining) only
    ``rec``, and ``ce`` when a classifier is present.
    """

    loss_terms = ("rec", "ce", "cluster", "pseudo", "kshot", "contrastive")

    def __init__(self, encoder, decoder, embedding_dim, *, augment=0.0,
                 standardize_embedding=False):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        # the autoencoder reconstructs the jittered image (as in DEC-DA, Guo et al. 2018)
        self.augment = RandomAffine(augment)
        self.standardize = (nn.BatchNorm1d(embedding_dim, affine=False)
                            if standardize_embedding else nn.Identity())
        self.classifier = None
        self.clustering = None
        self.contrast = None   # a TwoViewContrast on the target rows (stage 1, images)
        self.register_buffer("pseudo_labels", None)   # target pseudo-labels (lambda_pseudo > 0)
        self.statistics = None   # images: each domain's BatchNorm statistics, after stage 2

    def embed(self, x, domain):
        if self.statistics is not None:   # a no-op in training mode
            self.statistics.use(domain)
        return self.standardize(self.encoder(x, domain))

    def forward(self, batch):
        terms, rec, n_rec, z = {}, 0.0, 0, {}
        for domain in ("source", "target"):
            if domain not in batch:
                continue
            x = x_rec = self.augment(getattr(batch, domain).X)
            z[domain] = self.embed(x, domain)
            if self.decoder is not None:
                err = reconstruction_loss(self.decoder(z[domain], domain), x_rec)
                rec, n_rec = rec + len(x) * err, n_rec + len(x)
        if n_rec:
            terms["rec"] = rec / n_rec
        if self.contrast is not None and "target" in batch:
            terms["contrastive"], _ = self.contrast(lambda x: self.embed(x, "target"),
                                                    batch.target.X)
        if self.classifier is not None and hasattr(batch.source, "y"):
            terms["ce"] = F.cross_entropy(self.classifier(z["source"]), batch.source.y)
        if self.clustering is not None:
            index = getattr(batch.target, "index", None)
            uses_index = index is not None and isinstance(self.clustering, DECClustering)
            terms["cluster"] = (self.clustering(z["target"], index) if uses_index
                                else self.clustering(z["target"]))
            if self.pseudo_labels is not None and index is not None:
                terms["pseudo"] = kshot_loss(z["target"], self.clustering.centroids,
                                             self.pseudo_labels[index])
            if "labelled" in batch:
                zl = self.embed(self.augment(batch.labelled.X), "target")
                terms["kshot"] = kshot_loss(zl, self.clustering.centroids, batch.labelled.y)
        return terms


def _dec_soft_assignment(X_target, net):
    """DEC's soft assignment ``Q`` of every target row (what its target ``P`` is made of)."""
    model = net.module_
    return batched_apply(lambda x: model.clustering.soft_assignment(model.embed(x, "target")),
                         X_target, net.device, module=model)


def _dec_store_target(net, q):
    net.module_.clustering.refresh_target(torch.as_tensor(q, device=net.device))


def _dec_release_target(net):
    # P is a training-time quantity: do not pickle n_target x K numbers
    clustering = net.module_.clustering
    clustering.target_distribution = clustering.centroids.new_zeros(
        0, clustering.centroids.shape[0])


def _reclustered_pseudo_labels(est, data, n_clusters, net):
    """Re-cluster the target on the current features (the pseudo-label refresh).

    The kNN-graph spectral clustering of ``init="spectral"`` is run again on
    the encoder's current features; its clusters are matched (Hungarian) to
    the current pseudo-labels (labelled target rows keep their labels).
    """
    model = net.module_
    labels = est._recluster_labels(data, est._hidden_features(model, data.X_target), n_clusters)
    reference = model.pseudo_labels.cpu().numpy()
    if data.has_target_labels:   # match to, and keep, the labelled rows' classes
        known = np.full(len(reference), -1, dtype=np.int64)
        known[data.labelled_target] = reference[data.labelled_target]
        return _match_clusters(labels, known, n_clusters)
    # keep the cluster ids of the previous labels
    return _match_clusters(labels, reference, n_clusters, keep_known=False)


# --------------------------------------------------------------- estimators
_PARAMS_DOC = """
    n_clusters : int, default=None
        Number of target clusters ``K``. None: the number of source classes
        (UDA) or of labelled target classes (SSDA). In SSDA it must equal the
        number of labelled target classes (one centroid per class).
    use_source : {"all", "reconstruction", "none"}, default="all"
        What the source domain contributes. ``"all"``: reconstruction and
        source labels (CKM-UDA / Algorithm 1); ``"reconstruction"``: source
        rows in ``L_AE`` only, no ``L_CE`` (the paper's *Src+Targ
        clustering*); ``"none"``: target only in both stages (the paper's
        *Target clustering*; ``y_source`` may then be None).
    pretrain_epochs : int, default=15
        Epochs of stage 1 (autoencoder pretraining, ``L_AE``).
    epochs : int or "auto", default="auto"
        Epochs of stage 2 (joint training). ``"auto"``: 20 when the
        pseudo-labels start from the spectral graph (``init``) and are
        refreshed by t-SNE (``recluster``; the refresh comes after 10 epochs
        and the embedding gets 10 more to follow it), else 10 (a t-SNE or
        k-means++ start, or the spectral refresh).
    lambda_cluster : float, default=1.0
        ``lambda_1``, weight of the clustering loss.
    lambda_source : float, default=1.0
        ``lambda_2``, weight of the source cross-entropy ``L_CE``.
    augment : float, default=0.6
        Strength of the random affine jitter of image inputs, in both stages
        (:class:`skhda.nn.RandomAffine`, the same meaning in every skhda
        estimator: rotation ``+-20 a`` degrees, scale ``1 +- 0.2 a``, shift
        ``+-15 a`` % of the side; 0.6 is ``+-12`` degrees); 0 disables it
        (paper-faithful). Ignored for vector inputs. Not in the paper.
    standardize_embedding : bool, default=True
        Standardise the embedding per batch (``BatchNorm1d`` without affine
        parameters; running statistics at inference). Keeps its scale fixed
        so the clustering loss cannot shrink it. False is paper-faithful.
        Not in the paper.
    init : {"auto", "spectral", "tsne", "kmeans++"}, default="auto"
        UDA centroid initialisation. ``"kmeans++"`` (paper-faithful): k-means
        (k-means++ seeding, 10 restarts) on the pretrained target embedding.
        ``"spectral"``: the means, in the embedding, of the clusters of a
        spectral clustering (``SpectralClustering(affinity="nearest_neighbors")``)
        of the target rows (features chosen by ``init_features``).
        ``"tsne"``: the same with the clusters of ``recluster="tsne"``
        (k-means on a t-SNE map of the inputs beside the stage-1 encoder's
        features). ``"auto"``: for image inputs with at most 10,000 target
        rows, both partitions are computed and the graph's is kept when the
        t-SNE map agrees with it on at least 90 % of the rows (Hungarian
        matching, ``start_agreement_``), else the map's; ``"spectral"`` for
        vectors and larger targets. On USPS 5-9 -> MNIST 0-4 and USPS evens
        -> odds the graph of the encoder's features merges two digits and
        splits another (agreement 0.71, graph 0.71, map 0.98-0.99); where
        they agree (0.96-0.99 on four other image proxies) the graph's finer
        borders ended higher (+0.006 mean ACC over those 8 fits, up to
        +0.025); on
        the vector digits proxies a t-SNE start ended lower (0.966 against
        0.972, ``doc/benchmarks/ckm.md``). In SSDA
        the clusters are first named by Hungarian matching to the labelled
        rows (which keep their labels). With ``"kmeans++"``, SSDA centroids
        are the class means of the labelled rows (equation 6). Starting SSDA
        from the named graph's means instead of 3 labelled rows per class
        lifted the 3-shot digits proxies from 0.955 to 0.972, the level of
        UDA, and was neutral on MNIST -> USPS (``doc/benchmarks/ckm.md``). Above 20,000
        target rows the spectral embedding is solved with LOBPCG instead of
        ARPACK, whose memory grows about as the square of the rows. Not in
        the paper.
    init_neighbors : int, default=10
        Neighbours of the kNN graph of ``init="spectral"`` (and of the
        spectral re-clustering).
    init_features : {"auto", "input", "encoder"}, default="auto"
        What the graph is built on: the flattened input rows, or the target
        encoder's features before its last linear layer (L2-normalised rows).
        ``"auto"``: the encoder's for images with the default conv encoder
        when stage 1 used source labels (``use_source="all"`` and
        ``lambda_source_pretrain > 0``), else the inputs (MLP features gave
        worse graphs than the pixels on both digit tasks).
    lambda_pseudo : float, default=10.0
        With a graph start (``init`` other than ``"kmeans++"``): weight of
        the cross-entropy of the RBF classifier ``r_M`` (softmax of
        ``-||z - mu_j||^2``) against the graph's cluster of each target row
        (its pseudo-label) in stage 2; 0 uses the graph for the centroids only. Not in the paper.
    pseudo_refresh : int or "auto", default="auto"
        Re-cluster the target on the current encoder features (``recluster``)
        every this many joint epochs and use the clusters as the new
        pseudo-labels (matched to the previous ones); 0 keeps the initial
        ones. ``"auto"``: 2 with the spectral re-clustering; with t-SNE
        (seconds per call) once after a spectral start, half-way through the
        ``"auto"`` epochs (10 of 20); never after a t-SNE start (``init``):
        on the image proxies the refresh's map, after 5 of the 10 epochs,
        gave the start's clusters again (ARI 0.98-0.998), and skipping it
        took 0.79x the fit time at 0.0006 lower accuracy over 6 fits, within
        the seeds' spread (``doc/benchmarks/ckm.md``; it was 5 before). Not
        in the paper.
    recluster : {"auto", "spectral", "tsne"}, default="auto"
        The clustering of the pseudo-label refreshes. ``"spectral"``: the
        kNN-graph spectral clustering of ``init="spectral"`` on the target
        encoder's features. ``"tsne"``: k-means (10 restarts) on a 2-d
        :class:`~sklearn.manifold.TSNE` map of the L2-normalised inputs beside
        the encoder's features (N2D's manifold step with scikit-learn's t-SNE;
        Barnes-Hut ``angle`` 0.8 for image targets over 2,000 rows,
        :func:`skhda.nn.graph.tsne_angle`, else 0.5, as in the t-SNE start);
        it repairs the graph's merged / split clusters that the joint stage
        cannot leave on its own, and the encoder's features bring in what the
        source labels taught. ``"auto"``: ``"tsne"`` for targets of at most
        5,000 rows of vectors or 10,000 images (t-SNE costs seconds to a
        minute there and grows as ``N log N``), else ``"spectral"``;
        ``"spectral"`` also after the image graph start that ``init="auto"``
        keeps (the map agreed with it). Chosen on proxy class splits of
        sklearn's digits (vectors, ``doc/benchmarks/defaults.md``) and on
        USPS 5-9 -> MNIST 0-4 and MNIST 0-4 -> USPS 5-9 (images,
        ``doc/benchmarks/ckm.md``). Not in the paper.
    lambda_source_pretrain : float, default=30.0
        Weight of the source cross-entropy ``L_CE`` added to ``L_AE`` in
        stage 1 (``use_source="all"`` only); 0 is paper-faithful (stage 1 =
        autoencoder only). Not in the paper.
    lambda_contrastive : float, default=0.0
        Weight of a self-supervised term added to stage 1: NT-Xent between
        two random views of the target images (affine jitter of strength
        ``augment`` and brightness, :class:`skhda.nn.TwoViewContrast`,
        the term of TDCM's ``lambda_contrastive``). Image inputs only (a
        ``ValueError`` for vectors); 0 disables it. On the two image proxy
        tasks (2 seeds each) 10 moved the t-SNE start by +0.0004 ACC and the
        final ACC by +0.003 at 1.34x the fit time (``doc/benchmarks/ckm.md``),
        so it is not the default; at the current image start, over six
        image proxies x 2 seeds, it gained +0.001 at about 1.4x the time.
        Not in the paper.
    embedding_dim : int, default=10
        Dimension of the embedding ``z = f(x)``.
    hidden_dims : sequence of int, default=(256, 128)
        Hidden layers of the default MLP encoder (vector inputs).
    batch_size : int, default=256
        Rows per step of each domain.
""" + TRAINING_PARAMETERS_DOC + """\
    memory : str or object with the joblib.Memory interface, default=None
        Caches stage 1 (the pretrained autoencoder) and the t-SNE map of
        the start, as scikit-learn's ``Pipeline(memory=...)`` caches
        transformers: a path (or a :class:`joblib.Memory`) where they are
        stored. A later fit whose stage 1 has the same inputs (data, the
        stage-1 parameters, ``random_state``, device type, torch's thread
        count) restores it instead of training it again, and ends where the
        uncached fit ends: the same labels. Only fits seeded by an int
        ``random_state`` are cached (None draws a fresh seed per fit, which
        never repeats), on CPU or CUDA. CKM, DECAdapter, DCNAdapter and the
        semi-supervised fits share the entries (their stage 1 is the same),
        so comparing them, or a grid search over the joint stage's
        parameters, trains stage 1 once per seed and fold (searches with
        ``n_jobs`` may train one twice, when two workers miss it at once).
        Not cached: a stage 1 with callbacks (``callbacks={"pretrain": ...}``),
        a user ``encoder`` that holds a closure, the refreshes' maps. The
        keys hold the skhda, torch, skorch, scikit-learn and numpy versions,
        not the code of a user encoder's class: clear the folder after
        changing it. None (default): nothing is cached.
""".rstrip("\n")

_with_params = with_parameters_doc(_PARAMS_DOC)

_ATTRS_DOC = """
    Attributes
    ----------
    cluster_centers_ : ndarray of shape (K, embedding_dim)
        The centroids ``M`` in the learned embedding.
    init_ : {"spectral", "tsne", "kmeans++"}
        The start used (``init``, ``"auto"`` resolved). A graph start that
        ``init="auto"`` kept on images is refreshed by the spectral
        clustering every 2 epochs (``recluster="auto"``); with an explicit
        ``init="spectral"`` the same fit is ``init="spectral",
        recluster="spectral"``.
    init_labels_ : ndarray of shape (n_target,)
        The start's partition of the target: cluster indices in
        ``0..K-1`` (in SSDA, indices into ``classes_`` after naming by the
        labelled rows); absent with ``init="kmeans++"``.
    start_agreement_ : float or None
        ``init="auto"`` on images: the share of target rows on which the
        t-SNE map's and the graph's partitions agree (Hungarian-matched);
        None otherwise.
    classes_ : ndarray of shape (K,)
        SSDA only: the target classes; row ``j`` of ``cluster_centers_`` is
        class ``classes_[j]`` and ``predict`` returns these labels.
    source_classes_ : ndarray
        The source classes of the classifier ``q_theta`` (``use_source="all"``).
    net_ : skhda.DomainNet
        The joint stage's net (``net_.module_`` holds encoder, decoder,
        classifier and clustering head).
    history_ : skorch.History
        History of the joint stage; ``histories_`` has both stages.
    n_features_in_ : int
    input_shapes_ : dict"""

_with_attrs = with_parameters_doc(_ATTRS_DOC, marker="DEEP_ATTRIBUTES")


class _AdaptiveClustering(BaseDeepDA):
    """Algorithms 1 and 2 of the CKM paper with a pluggable clustering loss."""

    _main_stage = "joint"
    _stages = ("pretrain", "joint")

    def __init__(self, n_clusters=None, *, use_source="all", pretrain_epochs=15, epochs="auto",
                 lambda_cluster=1.0, lambda_source=1.0, augment=0.6,
                 standardize_embedding=True, init="auto",
                 init_neighbors=10, init_features="auto",
                 lambda_pseudo=10.0, pseudo_refresh="auto", recluster="auto",
                 lambda_source_pretrain=30.0, lambda_contrastive=0.0,
                 embedding_dim=10,
                 hidden_dims=(256, 128),
                 encoder=None, input_shape=None, batch_size=256, lr=1e-3, device="auto",
                 random_state=None, verbose=0, callbacks=None, memory=None):
        self.n_clusters = n_clusters
        self.use_source = use_source
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.lambda_cluster = lambda_cluster
        self.lambda_source = lambda_source
        self.augment = augment
        self.standardize_embedding = standardize_embedding
        self.init = init
        self.init_neighbors = init_neighbors
        self.lambda_pseudo = lambda_pseudo
        self.pseudo_refresh = pseudo_refresh
        self.recluster = recluster
        self.init_features = init_features
        self.lambda_source_pretrain = lambda_source_pretrain
        self.lambda_contrastive = lambda_contrastive
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.input_shape = input_shape
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.memory = memory

    def _capabilities(self):
        # source labels only for use_source="all" (L_CE)
        return Capabilities(requires_source_labels=self.use_source == "all")

    _parameter_constraints: dict = {
        **BaseDeepDA._parameter_constraints,
        "use_source": [StrOptions(set(_USE_SOURCE))],
        "pretrain_epochs": non_negative_int(),
        "lambda_cluster": non_negative_real(),
        "lambda_source": non_negative_real(),
        "lambda_kshot": non_negative_real(),
        "augment": non_negative_real(),
        "standardize_embedding": ["boolean"],
        "init": [StrOptions(set(_INIT))],
        "init_neighbors": positive_int(),
        "init_features": [StrOptions({"auto", "input", "encoder"})],
        "lambda_pseudo": non_negative_real(),
        "pseudo_refresh": [StrOptions({"auto"}), *non_negative_int()],
        "epochs": [StrOptions({"auto"}), *non_negative_int()],
        "recluster": [StrOptions({"auto", "spectral", "tsne"})],
        "lambda_source_pretrain": non_negative_real(),
        "lambda_contrastive": non_negative_real(),
        "memory": memory_option(),
    }

    # ------------------------------------------------------- to specialise
    def _make_clustering(self, n_clusters):  # pragma: no cover - abstract
        raise NotImplementedError

    def _joint_callbacks(self, data, dataset):
        return []

    # ------------------------------------------------------------- fitting
    def _fit_deep(self, data):
        for attr in ("classes_", "source_classes_", "init_labels_"):
            if hasattr(self, attr):
                delattr(self, attr)
        ssda = data.has_target_labels
        n_clusters = self._n_clusters_ssda(data) if ssda else self._n_clusters(data)

        # stage 1: autoencoder on source + target (target only for "none")
        decoder = self._make_decoder(data)
        encoder = self._make_encoder(data)
        model = _AdaptiveClusteringModel(
            encoder, decoder, self.embedding_dim, augment=self.augment,
            standardize_embedding=bool(self.standardize_embedding))
        source = None if self.use_source == "none" else "X"
        if self.use_source == "all":
            self.source_classes_ = data.source_classes()[0]
            if float(self.lambda_source_pretrain) > 0:
                # stage 1 = L_AE + lambda L_CE (not in the paper: stage 1 is L_AE only)
                model.classifier = nn.Linear(self.embedding_dim, len(self.source_classes_))
                source = "Xy"
        if float(self.lambda_contrastive) > 0:   # not in the paper: a self-supervised term
            model.contrast = self._make_contrast(data.shapes["target"])
        self._train_stage("pretrain", model, data.dataset(source, order=_PARTS),
                          self.pretrain_epochs,
                          loss_weights={"ce": float(self.lambda_source_pretrain),
                                        "contrastive": float(self.lambda_contrastive)},
                          cache=True)
        model.contrast = None   # stage 1 only

        # centroids: the embedding means of a partition of the target, from a kNN-graph
        # spectral clustering ("spectral") or k-means on a t-SNE map ("tsne"); with
        # "kmeans++", k-means on the target embedding (UDA) or the labelled rows' class
        # means (SSDA, eq. 6)
        Z = self._embed_with(model, data.X_target)
        self.init_, graph, self.start_agreement_ = self._start(model, data, n_clusters)
        if ssda:   # the graph's clusters named by the labelled rows, which keep their labels
            mask = data.labelled_target
            self.classes_, y_l = data.target_classes()
            if graph is not None:
                reference = np.full(len(graph), -1, dtype=np.int64)
                reference[mask] = y_l
                graph = _match_clusters(graph, reference, n_clusters)
        if graph is not None:   # the (named) graph's cluster means, in SSDA as in UDA
            centroids = np.stack([Z[graph == j].mean(0) if np.any(graph == j) else Z.mean(0)
                                  for j in range(n_clusters)])
        elif ssda:   # equation 6: the class means of the labelled rows
            centroids = np.stack([Z[mask][y_l == j].mean(0) for j in range(n_clusters)])
        else:
            centroids = KMeans(n_clusters, n_init=10,
                               random_state=self._fit_seed).fit(Z).cluster_centers_
        if graph is not None:
            self.init_labels_ = graph
            if float(self.lambda_pseudo) > 0:   # a copy: the refreshes overwrite the buffer
                model.pseudo_labels = torch.as_tensor(graph.copy())
        model.clustering = self._make_clustering(n_clusters)
        model.clustering.set_centroids(centroids)

        # stage 2: joint training (Algorithm 1 / 2)
        if self.use_source == "all":
            source = "Xy"
            if model.classifier is None:
                model.classifier = nn.Linear(self.embedding_dim, len(self.source_classes_))
        dataset = data.dataset(source, labelled=self.classes_ if ssda else None, order=_PARTS)
        extra = self._joint_callbacks(data, dataset)
        refresh = self._pseudo_refresh(data, self.init_)
        if model.pseudo_labels is not None and refresh > 0:
            extra.append(PeriodicRefresh(
                partial(_reclustered_pseudo_labels, self, data, n_clusters), "pseudo_labels",
                every=refresh, unit="epoch", at_start=False))
        batch_sizes = {"labelled": int(data.labelled_target.sum())} if ssda else None
        self.net_ = self._train_stage(
            "joint", model, dataset, self._joint_epochs(data, self.init_), batch_sizes=batch_sizes,
            loss_weights={"cluster": float(self.lambda_cluster),
                          "ce": float(self.lambda_source),
                          "pseudo": float(self.lambda_pseudo),
                          "kshot": float(getattr(self, "lambda_kshot", 1.0))},
            extra_callbacks=extra)
        self.cluster_centers_ = model.clustering.centroids.detach().cpu().numpy().copy()
        if data.images("target"):
            # the running statistics mix every part of a step (target, source and the
            # few labelled rows last); predict with each domain's own (AdaBN)
            model.statistics = DomainStatistics(model.encoder, model.standardize)
            rows = {"source": data.X_source, "target": data.X_target}
            model.eval().statistics.estimate_domains(model.embed, rows, self.net_.device,
                                                     seed=self._fit_seed)

    def _start(self, model, data, n_clusters):
        """(the start ``init_``, its partition of the target or None, ``start_agreement_``).

        ``"agreement"`` (``init="auto"`` on images) computes both partitions
        and keeps the graph's when the t-SNE map agrees with it on at least
        ``_START_AGREEMENT`` of the rows (Hungarian-matched), else the map's.
        """
        init = self._init_method(data)
        on_encoder = self._graph_on_encoder(data)
        tsne = spectral = agreement = H = None
        if init in ("tsne", "agreement") or (init == "spectral" and on_encoder):
            H = self._hidden_features(model, data.X_target)
        if init in ("tsne", "agreement"):   # the t-SNE refresh's clustering, on stage 1's features
            tsne = self._tsne_labels(data, H, n_clusters, cache=True)
        if init in ("spectral", "agreement"):
            spectral = self._spectral_labels(H if on_encoder else data.X_target, n_clusters)
        if init == "agreement":
            agreement = float(cluster_accuracy(tsne, spectral))
            init = "spectral" if agreement >= _START_AGREEMENT else "tsne"
        return init, tsne if init == "tsne" else spectral, agreement

    def _spectral_labels(self, X, n_clusters):
        """Spectral clustering (kNN graph) of target rows (inputs or features), flattened."""
        return spectral_labels(X, n_clusters, self.init_neighbors, self._sklearn_seed)

    def _small_target(self, data):
        """Whether the target is small enough for t-SNE.

        At most ``TSNE_MAX_ROWS`` rows of vectors, ``TSNE_MAX_IMAGE_ROWS`` of images.
        """
        limit = TSNE_MAX_IMAGE_ROWS if data.images("target") else TSNE_MAX_ROWS
        return len(data.X_target) <= limit

    def _init_method(self, data):
        """``init``; ``"auto"``: ``"agreement"`` for images up to ``TSNE_MAX_IMAGE_ROWS`` rows.

        ``"agreement"`` is resolved after stage 1 (``_start``). Vector inputs
        (and larger targets) start from ``"spectral"``.
        """
        if self.init != "auto":
            return self.init
        return ("agreement" if data.images("target") and self._small_target(data)
                else "spectral")

    def _recluster_method(self, data, start):
        """``recluster``; ``"auto"``: ``"tsne"`` for small targets (``_small_target``).

        ``start`` is the resolved start (``init_``). The graph start that
        ``init="auto"`` kept on images because the t-SNE map agreed with it
        is refreshed by the same spectral clustering.
        """
        if self.recluster != "auto":
            return self.recluster
        agreed_graph = self._init_method(data) == "agreement" and start == "spectral"
        return "tsne" if self._small_target(data) and not agreed_graph else "spectral"

    def _pseudo_refresh(self, data, start):
        """``pseudo_refresh``; ``"auto"``: every 2 epochs (spectral), 10 or none (t-SNE).

        The t-SNE refresh of a graph start comes half-way through the 20
        ``"auto"`` epochs; a t-SNE start is not refreshed (the refresh's map
        gives the start's clusters again, ``doc/benchmarks/ckm.md``).
        """
        if self.pseudo_refresh != "auto":
            return int(self.pseudo_refresh)
        if self._recluster_method(data, start) != "tsne":
            return 2
        # half the 20 "auto" epochs of a graph start; a t-SNE start is not refreshed
        # (and a k-means++ start has no pseudo-labels to refresh)
        return 10 if start == "spectral" else 0

    def _joint_epochs(self, data, start):
        """``epochs``; ``"auto"``: 20 for a t-SNE refresh after a spectral start, else 10."""
        if self.epochs != "auto":
            return int(self.epochs)
        graph_then_tsne = start == "spectral" and self._recluster_method(data, start) == "tsne"
        return 20 if graph_then_tsne else 10

    def _recluster_labels(self, data, H, n_clusters):
        """The refresh's clustering of the target: spectral on ``H``, or t-SNE + k-means.

        ``"tsne"`` embeds the L2-normalised inputs beside the encoder features
        ``H`` (2-d :class:`~sklearn.manifold.TSNE`, PCA start) and clusters
        the map with k-means (10 restarts), as N2D does with UMAP.
        """
        if self._recluster_method(data, self.init_) == "spectral":
            return self._spectral_labels(H, n_clusters)
        return self._tsne_labels(data, H, n_clusters)

    def _tsne_labels(self, data, H, n_clusters, cache=False):
        """k-means (10 restarts) on a 2-d t-SNE map of the L2-normalised inputs beside ``H``.

        With ``cache`` (the start's map, whose input is stage 1's) the map
        goes through ``memory``; a refresh's input is the fit's own.
        """
        if len(H) <= n_clusters + 1:
            return self._spectral_labels(H, n_clusters)
        X = data.X_target.reshape(len(H), -1).astype(np.float64)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        seed = self._sklearn_seed
        E = cached_call(self._memory() if cache else None, tsne_map, np.hstack([X, H]),
                        random_state=seed, normalize=False,
                        angle=tsne_angle(len(H), data.images("target")))
        return map_kmeans_labels(E, n_clusters, seed)

    def _graph_on_encoder(self, data):
        """Whether the graph of ``init="spectral"`` is built on encoder features.

        ``"auto"``: when the target encoder is the default conv net (image
        inputs) and stage 1 trained it with source labels (``use_source="all"``
        and ``lambda_source_pretrain > 0``); else on the inputs.
        """
        if self.init_features == "auto":
            return (self.use_source == "all" and float(self.lambda_source_pretrain) > 0
                    and self.encoder is None and data.images("target"))
        return self.init_features == "encoder"

    def _hidden_features(self, model, X):
        """The target encoder's features before its last linear layer (the embedding's input).

        Falls back to the embedding when the encoder has no linear layer.
        """
        encoder = model.encoder
        if isinstance(encoder, _PerDomain):
            encoder = encoder["target"]
        linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
        if not linears:
            return self._embed_with(model, X)
        captured = []
        handle = linears[-1].register_forward_pre_hook(
            lambda mod, args: captured.append(args[0].flatten(1).detach().cpu()))
        try:
            self._embed_with(model, X)
        finally:
            handle.remove()
        H = torch.cat(captured).numpy()
        # rows on the unit sphere: a cosine kNN graph, blind to the features' scale
        return H / np.maximum(np.linalg.norm(H, axis=1, keepdims=True), 1e-12)

    def _n_clusters_ssda(self, data):
        n_cls = len(np.unique(data.y_target[data.labelled_target]))
        k = self._n_clusters_requested(data)
        if k is not None and k != n_cls:
            raise ValueError(
                f"n_clusters={k} but y_target labels {n_cls} classes: semi-supervised "
                f"{type(self).__name__} keeps one centroid per target class, so every target "
                "class needs at least one labelled row (or leave n_clusters=None)."
            )
        return n_cls

    def _embed_with(self, model, X):
        return batched_apply(lambda x: model.embed(x, "target"), X, self.device_, module=model)

    # ----------------------------------------------------------- inference
    def _centroid_scores(self, X, domain):
        check_is_fitted(self, "cluster_centers_")
        X = self._validate_X(X, domain)
        model = self.net_.module_
        return batched_apply(lambda x: model.clustering.soft_assignment(model.embed(x, domain)),
                             X, self.net_.device, module=model)

    def predict_proba(self, X, domain="target"):
        """Soft assignment of each row to the centroids (columns as ``cluster_centers_``).

        ``softmax_j(-||z - mu_j||^2)`` (the RBF classifier ``r_M`` of the
        paper's equation 5) for CKM and DCN; DEC's Student-t ``q`` for DEC.
        ``domain="source"`` embeds source rows with the source encoder.
        """
        return self._centroid_scores(X, domain)

    def predict(self, X, domain="target"):
        """Nearest centroid of each row in the learned embedding.

        Cluster ids ``0..K-1`` (UDA), or target class labels (``classes_``)
        after a semi-supervised fit.
        """
        check_is_fitted(self, "cluster_centers_")
        X = self._validate_X(X, domain)
        model = self.net_.module_
        idx = batched_apply(lambda x: model.clustering.predict(model.embed(x, domain)), X,
                            self.net_.device, module=model).astype(np.int64)
        return self.classes_[idx] if hasattr(self, "classes_") else idx


@_with_params
@_with_attrs
class CKM(_AdaptiveClustering):
    """Concrete k-means for heterogeneous domain adaptation (CKM-UDA / CKM-SSDA).

    Learns an autoencoder embedding of source and target data together with
    ``K`` target centroids, trained end-to-end with the Concrete k-means loss
    ``||z_i - h_i M||^2`` (``h_i`` a straight-through Gumbel-softmax one-hot
    sample with logits ``-||z_i - mu_k||^2``, temperature annealed) and a
    classifier of the source classes on the same embedding, for target
    classes disjoint from the source's (Algorithm 1 of the CKM paper). When
    ``y_target`` has labelled rows (``-1`` = unlabelled) it is CKM-SSDA
    (Algorithm 2): one centroid per target class, initialised at the class
    means, also trained by the k-shot loss of the RBF classifier whose means
    are the centroids; ``predict`` then returns target labels.

    Parameters
    ----------
    DEEP_PARAMETERS
    lambda_kshot : float, default=1.0
        ``lambda_3``, weight of the k-shot loss (SSDA only).
    temperature : float, default=1.0
        Gumbel-softmax temperature at the start of the joint stage.
    final_temperature : float, default=0.1
        Temperature at the end; annealed geometrically in between, per step.

    DEEP_ATTRIBUTES

    See Also
    --------
    DECAdapter, DCNAdapter : the same algorithm with DEC's / DCN's clustering loss.
    skhda.baselines.TargetClustering : a scikit-learn clusterer on the target.

    Notes
    -----
    The paper's baselines: ``CKM(use_source="none")`` is *Target clustering*
    (autoencoder and CKM on the target only), ``CKM(use_source="reconstruction")``
    is *Src+Targ clustering* (autoencoder on both domains, no source labels).
    ``augment=0, standardize_embedding=False, init="kmeans++", lambda_pseudo=0,
    pseudo_refresh=0, lambda_source_pretrain=0`` is the paper-faithful
    setting; the defaults add documented improvements (module docstring). The
    reconstruction loss is the per-image *sum* of squared errors (equation 1);
    ``L_AE`` is averaged over the source and target rows of a batch, the
    other terms over their own rows. By default the centroids start at the
    clusters of a kNN-graph spectral clustering of the target, or on images
    of a t-SNE map where the map disagrees with the graph (``init``); the
    paper's k-means++ start is ``init="kmeans++"``.

    Examples
    --------
    >>> from skhda import CKM
    >>> from skhda.datasets import load_digits_transfer
    >>> from skhda.metrics import cluster_accuracy
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = CKM(n_clusters=5, pretrain_epochs=5, epochs=5, random_state=0)
    >>> labels = est.fit_predict(Xs / 16, ys, Xt / 16)
    >>> labels.shape, est.cluster_centers_.shape
    ((896,), (5, 10))
    >>> import numpy as np
    >>> y_semi = np.full_like(yt, -1)
    >>> for c in np.unique(yt):
    ...     y_semi[np.flatnonzero(yt == c)[:3]] = c      # 3 labelled rows per class
    >>> est.fit(Xs / 16, ys, Xt / 16, y_semi).classes_
    array([5, 6, 7, 8, 9])
    """

    def __init__(self, n_clusters=None, *, use_source="all", pretrain_epochs=15, epochs="auto",
                 lambda_cluster=1.0, lambda_source=1.0, lambda_kshot=1.0, temperature=1.0,
                 final_temperature=0.1, augment=0.6, standardize_embedding=True, init="auto",
                 init_neighbors=10, init_features="auto",
                 lambda_pseudo=10.0, pseudo_refresh="auto", recluster="auto",
                 lambda_source_pretrain=30.0, lambda_contrastive=0.0,
                 embedding_dim=10, hidden_dims=(256, 128), encoder=None, input_shape=None,
                 batch_size=256, lr=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None, memory=None):
        super().__init__(
            n_clusters, use_source=use_source, pretrain_epochs=pretrain_epochs, epochs=epochs,
            lambda_cluster=lambda_cluster, lambda_source=lambda_source, augment=augment,
            standardize_embedding=standardize_embedding, init=init,
            init_neighbors=init_neighbors, init_features=init_features,
            lambda_pseudo=lambda_pseudo, pseudo_refresh=pseudo_refresh, recluster=recluster,
            lambda_source_pretrain=lambda_source_pretrain,
            lambda_contrastive=lambda_contrastive,
            embedding_dim=embedding_dim,
            hidden_dims=hidden_dims, encoder=encoder, input_shape=input_shape,
            batch_size=batch_size, lr=lr, device=device, random_state=random_state,
            verbose=verbose, callbacks=callbacks, memory=memory)
        self.lambda_kshot = lambda_kshot
        self.temperature = temperature
        self.final_temperature = final_temperature

    _parameter_constraints: dict = {
        **_AdaptiveClustering._parameter_constraints,
        "temperature": positive_real(),
        "final_temperature": positive_real(),
    }

    def _make_clustering(self, n_clusters):
        return ConcreteKMeans(n_clusters, self.embedding_dim, self.temperature)

    def _joint_callbacks(self, data, dataset):
        anneal = partial(_geometric, float(self.temperature), float(self.final_temperature))
        return [LinearSchedule(anneal, attribute="clustering.temperature")]


@_with_params
@_with_attrs
class DECAdapter(_AdaptiveClustering):
    """DEC-UDA: Algorithm 1 of the CKM paper with DEC's clustering loss.

    The clustering loss is DEC's (Xie et al. 2016) ``KL(P || Q)`` between
    the Student-t soft assignment ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^-(alpha+1)/2``
    and the sharpened target ``p_ij ∝ q_ij^2 / sum_i q_ij``; ``P`` is
    recomputed over the whole target every ``update_interval`` steps and held
    fixed in between. Everything else (stages, source classifier, switches,
    SSDA with ``y_target``) is shared with :class:`CKM`.

    Parameters
    ----------
    DEEP_PARAMETERS
    lambda_kshot : float, default=1.0
        ``lambda_3``, weight of the k-shot loss (SSDA only).
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel.
    update_interval : int, default=20
        Steps between two refreshes of the target distribution ``P``.

    DEEP_ATTRIBUTES

    See Also
    --------
    CKM, DCNAdapter

    Examples
    --------
    >>> from skhda import DECAdapter
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = DECAdapter(n_clusters=5, pretrain_epochs=3, epochs=3, random_state=0)
    >>> est.fit(Xs / 16, ys, Xt / 16).predict_proba(Xt / 16).shape
    (896, 5)
    """

    def __init__(self, n_clusters=None, *, use_source="all", pretrain_epochs=15, epochs="auto",
                 lambda_cluster=1.0, lambda_source=1.0, lambda_kshot=1.0, alpha=1.0,
                 update_interval=20, augment=0.6, standardize_embedding=True, init="auto",
                 init_neighbors=10, init_features="auto",
                 lambda_pseudo=10.0, pseudo_refresh="auto", recluster="auto",
                 lambda_source_pretrain=30.0, lambda_contrastive=0.0,
                 embedding_dim=10, hidden_dims=(256, 128), encoder=None, input_shape=None,
                 batch_size=256, lr=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None, memory=None):
        super().__init__(
            n_clusters, use_source=use_source, pretrain_epochs=pretrain_epochs, epochs=epochs,
            lambda_cluster=lambda_cluster, lambda_source=lambda_source, augment=augment,
            standardize_embedding=standardize_embedding, init=init,
            init_neighbors=init_neighbors, init_features=init_features,
            lambda_pseudo=lambda_pseudo, pseudo_refresh=pseudo_refresh, recluster=recluster,
            lambda_source_pretrain=lambda_source_pretrain,
            lambda_contrastive=lambda_contrastive,
            embedding_dim=embedding_dim,
            hidden_dims=hidden_dims, encoder=encoder, input_shape=input_shape,
            batch_size=batch_size, lr=lr, device=device, random_state=random_state,
            verbose=verbose, callbacks=callbacks, memory=memory)
        self.lambda_kshot = lambda_kshot
        self.alpha = alpha
        self.update_interval = update_interval

    _parameter_constraints: dict = {
        **_AdaptiveClustering._parameter_constraints,
        "alpha": positive_real(),
        "update_interval": positive_int(),
    }

    def _make_clustering(self, n_clusters):
        return DECClustering(n_clusters, self.embedding_dim, float(self.alpha))

    def _joint_callbacks(self, data, dataset):
        return [PeriodicRefresh(partial(_dec_soft_assignment, data.X_target), _dec_store_target,
                                every=int(self.update_interval), release=_dec_release_target)]


@_with_params
@_with_attrs
class DCNAdapter(_AdaptiveClustering):
    """DCN-UDA: Algorithm 1 of the CKM paper with DCN's clustering loss.

    The clustering loss is DCN's (Yang et al. 2017) ``1/2 ||z_i - M s_i||^2``
    with the hard assignments ``s_i`` and centroids ``M`` held fixed in the
    network's gradient step; after each step the centroids of the batch's
    rows move by DCN's online update ``mu_k <- mu_k - (1/c_k)(mu_k - z_i)``
    (per-centroid counts ``c_k``), i.e. alternating optimisation instead of
    CKM's end-to-end one. Everything else is shared with :class:`CKM`.

    Parameters
    ----------
    DEEP_PARAMETERS
    lambda_kshot : float, default=1.0
        Weight of the k-shot loss (SSDA only; it trains the encoder, the
        DCN centroids being updated only by the online rule).

    DEEP_ATTRIBUTES

    See Also
    --------
    CKM, DECAdapter

    Examples
    --------
    >>> from skhda import DCNAdapter
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = DCNAdapter(n_clusters=5, pretrain_epochs=3, epochs=3, random_state=0)
    >>> est.fit(Xs / 16, ys, Xt / 16).transform(Xt / 16).shape
    (896, 10)
    """

    def __init__(self, n_clusters=None, *, use_source="all", pretrain_epochs=15, epochs="auto",
                 lambda_cluster=1.0, lambda_source=1.0, lambda_kshot=1.0, augment=0.6,
                 standardize_embedding=True, init="auto",
                 init_neighbors=10, init_features="auto",
                 lambda_pseudo=10.0, pseudo_refresh="auto", recluster="auto",
                 lambda_source_pretrain=30.0, lambda_contrastive=0.0,
                 embedding_dim=10,
                 hidden_dims=(256, 128),
                 encoder=None, input_shape=None, batch_size=256, lr=1e-3, device="auto",
                 random_state=None, verbose=0, callbacks=None, memory=None):
        super().__init__(
            n_clusters, use_source=use_source, pretrain_epochs=pretrain_epochs, epochs=epochs,
            lambda_cluster=lambda_cluster, lambda_source=lambda_source, augment=augment,
            standardize_embedding=standardize_embedding, init=init,
            init_neighbors=init_neighbors, init_features=init_features,
            lambda_pseudo=lambda_pseudo, pseudo_refresh=pseudo_refresh, recluster=recluster,
            lambda_source_pretrain=lambda_source_pretrain,
            lambda_contrastive=lambda_contrastive,
            embedding_dim=embedding_dim,
            hidden_dims=hidden_dims, encoder=encoder, input_shape=input_shape,
            batch_size=batch_size, lr=lr, device=device, random_state=random_state,
            verbose=verbose, callbacks=callbacks, memory=memory)
        self.lambda_kshot = lambda_kshot

    def _make_clustering(self, n_clusters):
        return DCNClustering(n_clusters, self.embedding_dim)
