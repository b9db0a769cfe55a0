"""TDCM: transferable deep clustering by learnable centroid-updating blocks.

Zhang & Zhao, "Transferable Deep Clustering Model". An encoder maps rows to an
embedding; ``L`` centroid-updating blocks start from ``K`` fixed orthogonal
vectors and move them towards the clusters of whatever batch is given, with a
learned score. Trained without labels on the source; a new domain is clustered
by a forward pass that adapts the centroids to its rows.

Algorithm (the paper's section 4, skhda's choices marked *ours*)::

    Z     = standardize_batch(encoder(X))                  # ours: anti-collapse;
                                                           # ours: LeakyReLU MLP
    c^0   = K orthonormal vectors (identity rows)
    for l = 1..L:                                          # CentroidUpdatingBlock
        delta^l = softmax_j(-sigma(W_Q^l p . W_K^l p) / tau),  p = z_i - c_j^(l-1)
        c^l     = sum_i delta^l_ij z_i / sum_i delta^l_ij
    loss  = sum_l alpha_l [ -sum_j delta^l_ij l(z_i, c^l_j)      # equation 4
                            + beta (log K - H(pi^l)) ]           # equation 5
            + orthogonal_weight * sum ||W W^T - I||^2            # the constraint
            + lambda_contrastive * NT-Xent(two views of X)       # ours, images, optional
            + lambda_consistency * -log(delta1 . delta2)         # ours, images, optional:
                                                           # both views in one cluster
            + lambda_neighbors * -log(delta_i . delta_nb(i))     # ours, vectors: a row and
                                                           # a kNN neighbour in one cluster
    (X_target given: trained on source and target batches) # ours, use_target
    (pretrain_epochs > 0: the encoder is first trained with NT-Xent alone)   # ours
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_random_state
from torch import nn

from ._base import (
    MEMORY_DOC_TAIL,
    TRAINING_PARAMETERS_DOC,
    BaseDeepDA,
    Capabilities,
    with_parameters_doc,
)
from ._training import batched_apply, best_of, graph_cut_rank
from ._validation import (
    StrOptions,
    memory_option,
    non_negative_int,
    non_negative_real,
    positive_int,
    positive_real,
)
from .nn.centroid_blocks import CentroidBlocks, assignment_consistency, batch_standardize
from .nn.graph import knn_indices

__all__ = ["TDCM"]

# chosen on proxy tasks (other class splits of sklearn's digits), doc/benchmarks/defaults.md
#: lambda_neighbors="auto" on vector inputs
_AUTO_NEIGHBORS = 3.0
#: beta="auto" when the neighbour term is on (it alone would pull everything into one cluster)
_AUTO_BETA_NEIGHBORS = 30.0
# chosen on image proxies whose target is sklearn's digits (never MNIST or USPS as the
# target), doc/benchmarks/tdcm.md, "Image defaults": the "auto" values for image inputs
#: pretrain_epochs, lambda_contrastive, lambda_consistency and epochs="auto" on images
_AUTO_IMAGE = {"pretrain_epochs": 5, "lambda_contrastive": 10.0, "lambda_consistency": 3.0,
               "epochs": 20}
#: epochs="auto" on vector inputs
_AUTO_VECTOR_EPOCHS = 50

class _TDCMModule(nn.Module):
    """Encoder + (standardisation) + centroid blocks; returns TDCM's loss terms.

    With ``contrast`` (a :class:`~skhda.nn.layers.TwoViewContrast`, the
    contrastive option) each batch is encoded as two random views: the blocks
    see the first, and the ``contrastive`` term is added. Without ``blocks``
    the module is the contrastive pretraining stage alone.
    """

    loss_terms = ("cluster", "balance", "orthogonality", "contrastive", "consistency",
                  "neighbors")

    def __init__(self, encoder, blocks, standardize=True, contrast=None, consistency=False):
        super().__init__()
        self.encoder = encoder
        self.blocks = blocks
        self.standardize = standardize
        self.contrast = contrast
        self.consistency = consistency
        # neighbour views (lambda_neighbors > 0): each domain's training rows, set for
        # the training stage only (not pickled) and read by the batch's "neighbors" table
        self.pool = {}

    def normalize(self, z):
        return batch_standardize(z) if self.standardize else z

    def embed(self, x, domain):
        """The encoder's output, before the per-batch standardisation."""
        return self.encoder(x, domain)

    def _neighbor_view(self, part, domain):
        """One random kNN neighbour of each row of the batch (SCAN's neighbour pairs)."""
        table = part.neighbors
        pick = torch.randint(1, table.shape[1], (len(table),), device=table.device)
        rows = table[torch.arange(len(table), device=table.device), pick]
        return self.pool[domain][rows.cpu()].to(part.X.device)

    def forward(self, batch):
        terms = {}
        for domain, part in batch.parts.items():
            if self.contrast is not None:
                loss, z, z2 = self.contrast.both_views(
                    lambda x, d=domain: self.encoder(x, d), part.X)
                terms["contrastive"] = terms.get("contrastive", 0.0) + loss
            else:
                z = self.encoder(part.X, domain)
            if self.blocks is not None:
                z = self.normalize(z)
                c, b = self.blocks.losses(z)
                terms["cluster"] = terms.get("cluster", 0.0) + c
                terms["balance"] = terms.get("balance", 0.0) + b
                if self.consistency:
                    terms["consistency"] = terms.get("consistency", 0.0) + assignment_consistency(
                        self.blocks, z, self.normalize(z2))
                if hasattr(part, "neighbors") and domain in self.pool:
                    z_nb = self.normalize(self.encoder(self._neighbor_view(part, domain), domain))
                    terms["neighbors"] = terms.get("neighbors", 0.0) + assignment_consistency(
                        self.blocks, z, z_nb)
        if self.blocks is not None:
            terms["orthogonality"] = self.blocks.orthogonality()
        return terms


@with_parameters_doc(MEMORY_DOC_TAIL, marker="MEMORY_DOC_TAIL")
@with_parameters_doc(TRAINING_PARAMETERS_DOC, marker="TRAINING_PARAMETERS")
class TDCM(BaseDeepDA):
    """Transferable Deep Clustering Model: centroids adapted to each batch by learned blocks.

    An encoder followed by ``n_blocks`` learnable centroid-updating blocks
    (:class:`skhda.nn.centroid_blocks.CentroidUpdatingBlock`). Each block
    assigns the rows to the current centroids with the learnable score
    ``l(z, c) = -sigma(W_Q (z - c) . W_K (z - c)) / tau`` (``W_Q``, ``W_K``
    symmetric, ``sigma`` a LeakyReLU) and moves the centroids to the soft
    means of their rows; the first centroids are ``K`` orthonormal vectors.
    Training is unsupervised, on the source rows (and, by default, the
    target rows when ``X_target`` is given): block-weighted clustering
    term + ``beta`` x cluster-size entropy term + orthogonality penalty on
    ``W_Q``, ``W_K`` (+ a neighbour-consistency term on vector inputs).

    ``predict(X)`` adapts the centroids to the rows of ``X`` by a forward pass
    and assigns every row, so a shifted target domain is clustered without
    training on it.

    Parameters
    ----------
    n_clusters : int, default=None
        ``K``. None: the number of distinct ``y_source`` labels (the only use
        of the labels; without them ``n_clusters`` is required).
    n_blocks : int, default=4
        ``L``, the number of centroid-updating blocks (the paper uses 4 on
        vectors, 5 on images).
    temperature : float, default=1.0
        ``tau`` of the score.
    beta : float or "auto", default="auto"
        Weight of the cluster-size entropy term. ``beta=0`` is the paper's
        *variant-E* ablation. ``"auto"``: 30 when the neighbour term is on
        (``lambda_neighbors``: pulling neighbours into one cluster alone
        favours merging clusters, so the balance term must weigh more, as in
        SCAN), else 1 (the paper's value). The value used is ``beta_``.
    orthogonal_weight : float, default=1.0
        Weight of the penalty ``||W W^T - I||^2`` on every ``W_Q``, ``W_K``.
        ``0`` is the paper's *variant-O* ablation.
    symmetric : bool, default=True
        Constrain ``W_Q``, ``W_K`` to be symmetric (``(A + A^T) / 2``).
        False is the paper's *variant-R* ablation. Both start at
        ``I + 0.1 N(0, 1)`` (independent draws).
    standardize_embedding : bool, default=True
        skhda's anti-collapse step: standardise the embedding with the
        statistics of each batch (of the rows given, at prediction; see
        Notes). False is the paper's loss as written, whose minimum is a
        collapsed embedding.
    negative_slope : float, default=0.01
        Slope of the LeakyReLU ``sigma`` below 0.
    encoder_negative_slope : float, default=0.2
        The default MLP encoder (vectors, ``encoder=None``) uses
        ``LeakyReLU(encoder_negative_slope)`` instead of ReLU (ours, see
        Notes); ``0`` gives the plain ReLU MLP of skhda's other models, ``1`` a
        linear encoder (best on the low-dimensional synthetic blobs,
        ``doc/benchmarks/tdcm.md``). Not used for images or a user encoder.
    n_init : int or "auto", default="auto"
        Train this many models from different random initialisations and
        keep the best by ``restart_criterion`` (ours, as in
        :class:`~sklearn.cluster.KMeans`; no labels involved). The blocks
        start from fixed centroids, so a fit can settle in a local minimum
        that merges two clusters; restarts can avoid that, at ``n_init``
        times the cost. ``"auto"``: 3 for vector inputs (seconds a fit), 1
        for images. On the digits proxies, 3 restarts kept by the graph cut
        scored 0.933 against 0.910 for single fits; kept by the training
        loss, 0.925 (``doc/benchmarks/defaults.md``). The value used is
        ``n_init_``.
    restart_criterion : {"graph_cut", "loss"}, default="graph_cut"
        How ``n_init`` picks its model, without labels. ``"graph_cut"``: the
        partition of the clustered rows (the target rows when trained on
        them, else the source) with the lowest normalised cut of their
        ``n_neighbors``-nearest-neighbour graph
        (:func:`skhda.metrics.knn_normalized_cut`): the model that least
        often separates a row from its neighbours. ``"loss"``: the lowest
        final training loss.
    adapt_n_init : int, default=4
        At ``predict``/``transform``, run the blocks from this many initial
        centroids and keep the run with the lowest unsupervised loss on the
        rows given (clustering term + ``beta`` x balance term, the training
        objective; no labels): the fixed ``c^(0)`` first, then
        ``adapt_n_init - 1`` k-means++ seeds drawn from the standardised
        embedding of those rows (fixed by ``random_state``). Ours, like the
        restarts of k-means; ``1`` is the paper's single forward pass from
        the orthogonal centroids.
    pretrain_epochs : int or "auto", default="auto"
        Contrastive pretraining of the encoder on the source before the TDCM
        stage (ours; image inputs only): SimCLR's NT-Xent loss on two random
        views of every image (affine jitter and brightness, strength
        ``augment``), through a projection head that is then kept for
        ``lambda_contrastive``. The paper trains its image encoders with
        augmentation-based representation learning; without it the clustering
        loss alone learns poor digit features (``doc/benchmarks/tdcm.md``).
        ``"auto"``: 5 for images (every domain of the main stage), 0 for
        vectors. The value used is ``pretrain_epochs_``.
    lambda_contrastive : float or "auto", default="auto"
        Weight of the same contrastive term added to TDCM's loss during the
        main stage (ours; image inputs only), so that clustering does not
        wash out the pretrained features. The blocks then see the first view
        of each image. ``"auto"``: 10 for images, 0 for vectors
        (``lambda_contrastive_``).
    lambda_consistency : float or "auto", default="auto"
        Weight of a cluster-level consistency term (ours; image inputs only):
        the centroids are adapted on the first view of the batch, both views
        are assigned to them, and ``-mean_i log sum_j delta1_ij delta2_ij``
        asks both views of an image to fall in the same cluster with
        confidence (SCAN's consistency loss; the balance term keeps it from
        putting everything in one cluster). On MNIST -> USPS digits
        (3 seeds), ``lambda_consistency=1`` raised the target NMI from 0.68
        to 0.79 at equal training (``pretrain_epochs=5, epochs=40,
        lambda_contrastive=10``), and ``pretrain_epochs=30, epochs=150,
        lambda_contrastive=10, lambda_consistency=3`` reaches 0.85 (ACC 0.92;
        0.37 without any of the three options; ``doc/benchmarks/tdcm.md``).
        ``"auto"``: 3 for images, 0 for vectors (``lambda_consistency_``).
        The three image values, with ``epochs``, were chosen on proxy tasks
        whose target is sklearn's digits (``doc/benchmarks/tdcm.md``, "Image
        defaults").
    augment : float, default=0.5
        Strength of the random views of the three options above
        (:class:`skhda.nn.RandomAffine`, the same meaning in every skhda
        estimator: rotation ``+-20 a`` degrees, scale ``1 +- 0.2 a``, shift
        ``+-15 a`` % of the side; the views also vary brightness
        ``1 +- 0.5 a``). Unused when all three are 0.
    finetune_epochs : int, default=0
        When > 0 and ``X_target`` is given, continue training the whole model
        on the target rows with the same unsupervised loss (ours; the paper
        transfers by the forward pass only). Off by default.
    use_target : {"auto", True, False}, default="auto"
        Whether the main stage trains on the target rows too (ours; the
        paper trains on the source and transfers by the forward pass).
        ``"auto"``: when ``X_target`` is given to ``fit``; each step then
        draws a source batch and a target batch and the blocks adapt their
        centroids to each separately (the loss is the sum over the two).
        False: the source only (the paper; ``X_target`` then only matters for
        ``finetune_epochs`` or a heterogeneous target).
    lambda_neighbors : float or "auto", default="auto"
        Weight of a neighbour-consistency term (ours, SCAN's loss with mined
        neighbours): each training row and one of its ``n_neighbors`` nearest
        rows of the same domain (cosine kNN of the inputs, drawn at random
        at every step) must fall in the same cluster of the blocks,
        ``-mean_i log sum_j delta_ij delta_nb(i)j``. It gives the clustering
        loss the local structure of the data, which the blocks alone do not
        see. ``"auto"``: 3 for vector inputs, 0 for images (whose augmented
        views, ``lambda_consistency``, do that job). 0 disables it. Chosen,
        with ``beta`` and ``epochs``, on class splits of sklearn's digits
        other than the demo's (``doc/benchmarks/defaults.md``).
    n_neighbors : int, default=10
        Neighbours per row of ``lambda_neighbors`` (computed once per fit,
        memory ``O(n_rows x n_neighbors)``).
    adapt_max_rows : int, default=20000
        ``predict``/``transform`` adapt the centroids (and the
        standardisation) on all rows given when there are at most this many;
        on a larger input, on a random subset of this many rows (fixed by
        ``random_state``), and then assign every row in chunks.
    weight_decay : float, default=5e-4
        Adam weight decay (the paper's value).
    embedding_dim : int, default=10
        Embedding dimension ``b``. Keep ``b >= n_clusters``: only then do
        ``K`` orthonormal initial centroids exist (otherwise evenly spread
        unit vectors are used).
    hidden_dims : sequence of int, default=(256, 128)
        Hidden layers of the default MLP encoder (vectors).
    epochs : int or "auto", default="auto"
        Training epochs of the main stage. ``"auto"``: 50 for vectors (was
        100; chosen on the digits proxies, ``doc/benchmarks/defaults.md``),
        20 for images, whose epochs draw two views of every image
        (``epochs_``).
    batch_size : int, default=256
        Rows per training step. The centroids are computed from the batch,
        so it must be large enough to hold every cluster (>= ``n_clusters``
        is required; several rows per cluster are needed in practice).
    TRAINING_PARAMETERS
    memory : str or object with the joblib.Memory interface, default=None
        Caches the training stages (the contrastive pretraining of images,
        which sees the source rows only, and each of the ``n_init`` runs),
        as scikit-learn's ``Pipeline(memory=...)`` caches transformers: a
        path (or a :class:`joblib.Memory`) where they are stored. A later
        fit whose stage has the same inputs (its data, the settings it
        depends on, ``random_state``, device type, torch's thread count)
        restores it instead of training it again, and ends where the
        uncached fit ends: the same labels. So a grid search over the
        clustering parameters on images pretrains once per seed, the fits
        with and without ``X_target`` share the pretraining, and a search
        over what follows the runs (``n_init``, ``restart_criterion``,
        ``finetune_epochs``, ``adapt_n_init``) trains each run once.
        MEMORY_DOC_TAIL

    Attributes
    ----------
    n_clusters_ : int
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        Centroids adapted to the training source rows, in the standardised
        embedding (``transform(X_source, domain="source")``), with the
        ``adapt_n_init`` restarts.
    beta_ : float
        The balance weight used (``beta``, ``"auto"`` resolved).
    n_init_ : int
        The number of runs (``n_init``, ``"auto"`` resolved).
    pretrain_epochs_, epochs_ : int
        The epochs of the pretraining and main stages (``"auto"`` resolved).
    lambda_contrastive_, lambda_consistency_ : float
        The weights of the two view terms used (``"auto"`` resolved).
    init_losses_ : list of float
        The ``restart_criterion`` score of each of the ``n_init_`` runs
        (lower is better; all 0 for a single run).
    initial_centroids_ : ndarray of shape (n_clusters, embedding_dim)
        ``c^(0)``.
    net_ : skhda.DomainNet
        The net of the last stage (fine-tuning when it ran).
    history_ : skorch.History
        History of the source training stage (``histories_`` has every stage).
    n_features_in_ : int

    See Also
    --------
    skhda.baselines.TargetClustering : any clusterer fitted on the target.

    Notes
    -----
    **Anti-collapse (ours).** The paper's loss has its global minimum at a
    collapsed embedding: when the encoder maps every row to one point, every
    score is 0 (the clustering term's minimum) and the soft assignments are
    uniform (the entropy term's minimum); the orthogonality penalty binds
    ``W_Q``, ``W_K`` but not the encoder. skhda therefore standardises the
    embedding on each batch (every dimension centred, unit variance) before
    the blocks: the spread of the embedding is fixed, so the clustering term
    can only decrease by making clusters tight *relative to* the distance
    between them. It adds no parameter, and at prediction it also removes a
    global offset or rescaling of a new domain's embedding (statistics of the
    rows given), which suits transfer. ``standardize_embedding=False``
    restores the literal loss.

    **Encoder activation (ours).** A shifted target domain puts rows where
    the source encoder never saw data. A ReLU MLP extrapolates there with
    few active units, i.e. a low-rank linear map that can squash the
    direction separating two target clusters: on the synthetic protocol the
    merged-cluster failures were in the *embedding* (k-means with 10
    restarts on the same standardised target embedding merged the same
    clusters), not in the blocks' fixed initial centroids. A LeakyReLU keeps
    the encoder injective-ish off the source support, which removed most of
    those failures (``doc/benchmarks/tdcm.md``). ``encoder_negative_slope=0``
    restores the ReLU encoder.

    **Adaptation restarts (ours).** The blocks are a few soft k-means-like
    steps from fixed centroids, so on a new domain they can settle in a
    partition that merges two clusters while splitting another, even when
    the embedding separates them (seen at K = 10). ``adapt_n_init`` also
    starts them from k-means++ seeds of the rows given and keeps the start
    whose partition has the lowest training objective on those rows.

    **Contrastive option (ours, images).** The paper trains its image
    encoders "with data augmentation techniques like previous papers"
    (contrastive clustering) for 2,000 epochs; the clustering loss alone, from
    a random conv net, learns poor digit features. ``pretrain_epochs``
    first trains the encoder with SimCLR's NT-Xent loss
    (:class:`skhda.nn.layers.TwoViewContrast`) on two random views of every
    source image; ``lambda_contrastive`` keeps that term during the TDCM
    stage. Instance-level contrast alone spreads the images evenly over the
    embedding rather than into clusters, and the clustering term then merges
    digits; ``lambda_consistency`` adds the cluster-level counterpart used by
    contrastive clustering methods: two views of an image must share a
    cluster of the blocks. All three need image inputs; ``"auto"`` turns them
    on for images and off for vectors.

    **Predictions depend on the rows given.** The centroids and the
    standardisation come from the batch passed to ``predict``: the same row
    can get another cluster id in another batch, and a batch should contain
    several rows of every cluster. Inputs larger than ``adapt_max_rows``
    adapt on a random subset of that size, then every row is assigned to the
    adapted centroids (embedding and assignment in chunks of 1024 rows).

    **Labels and the target rows.** Training ignores ``y_source`` and
    ``y_target`` (they are only validated; ``y_source`` gives the default
    ``n_clusters``). ``X_target`` is optional; when given, the main stage
    also trains on it by default (``use_target="auto"``, unsupervised, the
    blocks adapting to source and target batches separately). With
    ``use_target=False`` (the paper) it is unused unless
    ``finetune_epochs > 0``, or unless its features differ from the
    source's: then a target input encoder must be learned, and the
    fine-tuning stage (``finetune_epochs``, or ``epochs`` when 0) trains it
    without labels.

    **Neighbour consistency (ours, vectors).** The clustering and balance
    terms alone, from a random MLP, learn poor features on real vectors
    (about 0.48 target ACC on 5-class splits of sklearn's digits, below
    k-means on the pixels). ``lambda_neighbors`` adds SCAN's term with
    neighbours mined in the input space: a row and one of its nearest rows
    must share a cluster of the blocks. With the target rows in training
    and ``beta`` raised to keep the clusters apart, the digits proxies reach
    0.93-0.94 (``doc/benchmarks/defaults.md``).

    Other deviations from the printed paper: the centroid update divides by
    each cluster's mass ``sum_i delta_ij`` (the soft k-means / GMM update of
    Theorem 4.2; the printed ``sum_ij delta_ij`` shrinks all centroids to
    the origin); the loss averages over rows instead of summing; the entropy
    term is written as ``log K - H(pi)`` (the same gradient, 0 when sizes are
    equal); ``alpha_l`` is proportional to ``l`` and sums to 1.

    Ablations of the paper's Table 3: ``symmetric=False`` (variant-R),
    ``orthogonal_weight=0`` (variant-O), ``beta=0`` (variant-E). The paper's
    own path: ``encoder_negative_slope=0, adapt_n_init=1, use_target=False,
    lambda_neighbors=0`` (which makes ``beta="auto"`` the paper's 1; and
    ``n_init=1``; on images also ``pretrain_epochs=0, lambda_contrastive=0,
    lambda_consistency=0``; ``standardize_embedding=False`` for the literal,
    collapsing loss).

    Examples
    --------
    >>> from skhda.tdcm import TDCM
    >>> from skhda.datasets import make_domain_shift_blobs
    >>> from skhda.metrics import cluster_accuracy
    >>> Xs, _, Xt, yt = make_domain_shift_blobs(3, 300, random_state=0)
    >>> est = TDCM(n_clusters=3, epochs=20, hidden_dims=(32,), n_init=1, random_state=0)
    >>> labels = est.fit(Xs, X_target=Xt).predict(Xt)
    >>> labels.shape
    (300,)
    >>> sorted(set(labels.tolist()))
    [0, 1, 2]
    """

    def _capabilities(self):
        return Capabilities(requires_target=False, requires_source_labels=False)
    _main_stage = "train"
    _stages = ("pretrain", "train", "finetune")

    def __init__(self, n_clusters=None, *, n_blocks=4, temperature=1.0, beta="auto",
                 orthogonal_weight=1.0, symmetric=True, standardize_embedding=True,
                 negative_slope=0.01, encoder_negative_slope=0.2, n_init="auto",
                 restart_criterion="graph_cut", adapt_n_init=4, pretrain_epochs="auto",
                 lambda_contrastive="auto",
                 lambda_consistency="auto", augment=0.5,
                 finetune_epochs=0, use_target="auto", lambda_neighbors="auto", n_neighbors=10,
                 adapt_max_rows=20000, weight_decay=5e-4, embedding_dim=10,
                 hidden_dims=(256, 128), encoder=None, input_shape=None, epochs="auto",
                 batch_size=256, lr=1e-3, device="auto",
                 random_state=None, verbose=0, callbacks=None, memory=None):
        self.n_clusters = n_clusters
        self.n_blocks = n_blocks
        self.temperature = temperature
        self.beta = beta
        self.orthogonal_weight = orthogonal_weight
        self.symmetric = symmetric
        self.standardize_embedding = standardize_embedding
        self.negative_slope = negative_slope
        self.encoder_negative_slope = encoder_negative_slope
        self.n_init = n_init
        self.restart_criterion = restart_criterion
        self.adapt_n_init = adapt_n_init
        self.pretrain_epochs = pretrain_epochs
        self.lambda_contrastive = lambda_contrastive
        self.lambda_consistency = lambda_consistency
        self.augment = augment
        self.finetune_epochs = finetune_epochs
        self.use_target = use_target
        self.lambda_neighbors = lambda_neighbors
        self.n_neighbors = n_neighbors
        self.adapt_max_rows = adapt_max_rows
        self.weight_decay = weight_decay
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

    # ------------------------------------------------------------------ fit
    _parameter_constraints: dict = {
        **BaseDeepDA._parameter_constraints,
        "memory": memory_option(),
        "n_blocks": positive_int(),
        "temperature": positive_real(),
        "beta": [StrOptions({"auto"}), *non_negative_real()],
        "orthogonal_weight": non_negative_real(),
        "symmetric": ["boolean"],
        "standardize_embedding": ["boolean"],
        "negative_slope": non_negative_real(),
        "encoder_negative_slope": non_negative_real(),
        "n_init": [StrOptions({"auto"}), *positive_int()],
        "restart_criterion": [StrOptions({"graph_cut", "loss"})],
        "adapt_n_init": positive_int(),
        "pretrain_epochs": [StrOptions({"auto"}), *non_negative_int()],
        "lambda_contrastive": [StrOptions({"auto"}), *non_negative_real()],
        "lambda_consistency": [StrOptions({"auto"}), *non_negative_real()],
        "epochs": [StrOptions({"auto"}), *non_negative_int()],
        "augment": non_negative_real(),
        "finetune_epochs": non_negative_int(),
        "use_target": ["boolean", StrOptions({"auto"})],
        "lambda_neighbors": [StrOptions({"auto"}), *non_negative_real()],
        "n_neighbors": positive_int(),
        "adapt_max_rows": positive_int(),
        "weight_decay": non_negative_real(),
    }

    def _check_params_vs_input(self, data):
        k = self._n_clusters(data)
        if self.adapt_max_rows < k:
            raise ValueError(
                f"adapt_max_rows must be an integer >= n_clusters={k}, got {self.adapt_max_rows!r}."
            )
        if self.batch_size < k:
            raise ValueError(
                f"batch_size={self.batch_size} is smaller than n_clusters={k}: the centroids "
                "are computed from each batch, which must be able to hold every cluster."
            )

    def _trains_on_target(self, data):
        """Whether the main stage also trains on the target rows (``use_target``)."""
        if data.X_target is None:
            return False
        return True if self.use_target == "auto" else bool(self.use_target)

    def _neighbor_weight(self, data):
        """``lambda_neighbors``; ``"auto"``: 0 for images, ``_AUTO_NEIGHBORS`` for vectors."""
        if self.lambda_neighbors == "auto":
            return 0.0 if data.images("source") else _AUTO_NEIGHBORS
        return float(self.lambda_neighbors)

    def _n_restarts(self, data):
        """``n_init``; ``"auto"``: 3 for vector inputs, 1 for images."""
        if self.n_init == "auto":
            return 1 if data.images("source") else 3
        return int(self.n_init)

    def _view_settings(self, data, on_target):
        """``pretrain_epochs``, ``lambda_contrastive``, ``lambda_consistency``, ``epochs``.

        ``"auto"``: ``_AUTO_IMAGE`` when every domain of the main stage holds
        images, else 0 (the views need images) and ``_AUTO_VECTOR_EPOCHS`` epochs.
        """
        images = data.images("source") and (not on_target or data.images("target"))
        auto = dict(_AUTO_IMAGE) if images else {
            "pretrain_epochs": 0, "lambda_contrastive": 0.0, "lambda_consistency": 0.0,
            "epochs": _AUTO_VECTOR_EPOCHS}
        return {name: auto[name] if getattr(self, name) == "auto" else getattr(self, name)
                for name in auto}

    def _balance_weight(self, neighbors):
        """``beta``; ``"auto"``: ``_AUTO_BETA_NEIGHBORS`` with the neighbour term, else 1."""
        if self.beta == "auto":
            return _AUTO_BETA_NEIGHBORS if neighbors > 0 else 1.0
        return float(self.beta)

    def _neighbor_tables(self, data):
        """Each domain's kNN table (``n_neighbors``, cosine), computed once per fit on first use.

        Shared by the neighbour term of every stage and restart and by the
        restart ranking (:meth:`_restart_score`).
        """
        tables = {}

        def table(domain):
            if domain not in tables:
                X = data.X_source if domain == "source" else data.X_target
                tables[domain] = knn_indices(X, int(self.n_neighbors))
            return tables[domain]

        return table

    def _training_set(self, data, model, source, target, neighbor_table=None):
        """The stage's dataset; with ``neighbor_table``, each part's kNN table and the pool."""
        parts = {"source": data.X_source if source else None,
                 "target": data.X_target if target else None}
        extra = {}
        model.pool = {}
        if neighbor_table is not None:
            for domain, X in parts.items():
                if X is not None and len(X) > 1:
                    extra[domain] = {"neighbors": neighbor_table(domain)}
                    model.pool[domain] = torch.as_tensor(X)
        return data.dataset("X" if source else None, "X" if target else None, extra=extra)

    def _fit_deep(self, data):
        k = self._n_clusters(data)
        self.n_clusters_ = k
        on_target = self._trains_on_target(data)
        neighbors = self._neighbor_weight(data)
        self.beta_ = self._balance_weight(neighbors)
        weights = {"balance": self.beta_, "orthogonality": float(self.orthogonal_weight)}
        common = {"loss_weights": weights, "optimizer__weight_decay": float(self.weight_decay)}
        if neighbors > 0:
            weights["neighbors"] = neighbors
        views = self._view_settings(data, on_target)
        self.pretrain_epochs_, self.epochs_ = int(views["pretrain_epochs"]), int(views["epochs"])
        self.lambda_contrastive_ = float(views["lambda_contrastive"])
        self.lambda_consistency_ = float(views["lambda_consistency"])
        contrast_params = "pretrain_epochs, lambda_contrastive and lambda_consistency"
        pretrained = None
        if self.pretrain_epochs_ > 0:   # ours: contrastive representation learning first
            contrast = self._make_contrast(data.shapes["source"], contrast_params)
            pretrained = _TDCMModule(self._make_encoder(data, float(self.encoder_negative_slope)),
                                     None, contrast=contrast)
            self._train_stage("pretrain", pretrained, data.dataset(target=None),
                              self.pretrain_epochs_, cache=True,
                              optimizer__weight_decay=float(self.weight_decay))
        two_views = self.lambda_contrastive_ > 0 or self.lambda_consistency_ > 0
        if two_views:
            weights["contrastive"] = self.lambda_contrastive_
        if self.lambda_consistency_ > 0:
            weights["consistency"] = self.lambda_consistency_

        self.n_init_ = self._n_restarts(data)
        table = self._neighbor_tables(data)
        neighbor_table = table if neighbors > 0 else None

        def build():   # one run of n_init: new blocks and encoder (or the pretrained one)
            blocks = CentroidBlocks(k, self.embedding_dim, self.n_blocks,
                                    float(self.temperature), bool(self.symmetric),
                                    float(self.negative_slope), init_noise=0.1)
            encoder = (copy.deepcopy(pretrained.encoder) if pretrained is not None
                       else self._make_encoder(data, float(self.encoder_negative_slope)))
            contrast = None
            if two_views:
                contrast = (copy.deepcopy(pretrained.contrast) if pretrained is not None
                            else self._make_contrast(data.shapes["source"], contrast_params))
            model = _TDCMModule(encoder, blocks, bool(self.standardize_embedding), contrast,
                                consistency=self.lambda_consistency_ > 0)
            return model, self._training_set(data, model, True, on_target, neighbor_table)

        self.net_, self.init_losses_ = self._train_restarts(
            "train", self.n_init_, build, self.epochs_,
            self._restart_score(data, on_target, table), cache=True, **common)
        model, blocks = self.net_.module_, self.net_.module_.blocks
        model.pool = {}   # the training rows are not kept with the fitted model
        finetune = self.finetune_epochs if data.X_target is not None else 0
        if data.heterogeneous and finetune == 0 and not on_target:
            finetune = self.epochs_  # the target encoder can only learn here
        if finetune > 0:
            train = self._training_set(data, model, False, True, neighbor_table)
            self.net_ = self._train_stage("finetune", model, train, finetune, **common)
            model.pool = {}
        self.initial_centroids_ = blocks.initial_centroids.detach().cpu().numpy().copy()
        z, _, centroids = self._adapt(data.X_source, "source")
        self.cluster_centers_ = centroids

    def _restart_score(self, data, on_target, neighbor_table):
        """How ``n_init`` ranks a trained net: lower is better (see ``n_init``).

        One run: nothing to compare (0). Else the normalised cut, on the kNN
        graph of the rows clustered (the target rows when trained on them,
        else the source), of the partition the net gives them; or the final
        training loss (``restart_criterion="loss"``).
        """
        if self.n_init_ == 1 or self.epochs_ == 0:
            return lambda net: 0.0
        if self.restart_criterion == "loss":
            return lambda net: net.history[-1, "train_loss"]
        domain = "target" if on_target else "source"
        X = data.X_target if on_target else data.X_source
        return graph_cut_rank(neighbor_table(domain), self.n_clusters_,
                              lambda net: self._proba(X, domain, net).argmax(1))

    # ------------------------------------------------------------ inference
    def _adapt(self, X, domain, net=None):
        """Standardised embedding of ``X``, adaptation rows, adapted centroids (``net_``'s)."""
        net = self.net_ if net is None else net
        model, device = net.module_, net.device
        z = torch.as_tensor(self._embed(X, domain, net))
        rows = np.arange(len(z))
        if len(z) > self.adapt_max_rows:
            rng = check_random_state(self._fit_seed)
            rows = np.sort(rng.choice(len(z), self.adapt_max_rows, replace=False))
        sub = z[torch.as_tensor(rows)]
        if model.standardize:
            mean = sub.mean(0, keepdim=True)
            std = torch.sqrt(sub.var(0, unbiased=False, keepdim=True) + 1e-8)
            z, sub = (z - mean) / std, (sub - mean) / std
        with torch.no_grad():
            centroids = self._adapt_restarts(model.blocks, sub.to(device)).cpu()
        return z.numpy(), rows, centroids.numpy()

    def _adapt_restarts(self, blocks, sub):
        """``c^(L)`` on ``sub``: from ``c^(0)`` and k-means++ seeds, lowest loss kept."""
        n_init = getattr(self, "adapt_n_init", 1)  # estimators pickled before it existed
        starts = [None]
        if n_init > 1 and len(sub) > self.n_clusters_:
            rng = check_random_state(self._fit_seed)
            z = sub.cpu().double().numpy()
            for _ in range(n_init - 1):
                seeds, _ = kmeans_plusplus(z, self.n_clusters_,
                                           random_state=rng.randint(np.iinfo(np.int32).max))
                starts.append(torch.as_tensor(seeds, dtype=sub.dtype, device=sub.device))
        if len(starts) == 1:
            return blocks.adapt(sub, starts[0])

        def loss(init):
            clustering, balance = blocks.losses(sub, initial=init)
            return float(clustering) + self._fitted_beta() * float(balance)

        return blocks.adapt(sub, best_of(starts, loss)[0])

    def _fitted_beta(self):
        # estimators pickled before beta_ existed had a numeric beta
        return float(getattr(self, "beta_", self.beta))

    def predict_proba(self, X, domain="target"):
        """Soft assignments of the rows of ``X`` to the centroids adapted to ``X``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
        """
        return self._proba(self._validate_X(X, domain), domain)

    def _proba(self, X, domain, net=None):
        net = self.net_ if net is None else net
        z, _, centroids = self._adapt(X, domain, net)
        model = net.module_
        c = torch.as_tensor(centroids).to(net.device)
        return batched_apply(lambda zz: model.blocks.assign(zz, c), z, net.device, module=model)

    def predict(self, X, domain="target"):
        """Cluster id (``0..n_clusters-1``) of each row of ``X``.

        The centroids are adapted to the rows of ``X`` first (see Notes):
        predictions depend on the whole batch of rows given.
        """
        return self.predict_proba(X, domain).argmax(1)

    def transform(self, X, domain="target"):
        """The embedding of ``X``, standardised with the statistics of the rows given.

        Returns
        -------
        Z : ndarray of shape (n_samples, embedding_dim)
        """
        X = self._validate_X(X, domain)
        return self._adapt(X, domain)[0]
