"""Graph pieces: batched kNN, instance-pivot subgraphs, the linkage GCN, link clustering.

The linkage GCN of Wang et al., "Linkage based face clustering via graph
convolution network" (CVPR 2019), used by :class:`skhda.XDC`:

1. :func:`knn_indices`: every row's ``k`` nearest rows (cosine), row 0 = the
   row itself; computed in blocks by :class:`~sklearn.neighbors.NearestNeighbors`,
   never as an ``N x N`` matrix. :func:`tsne_map`: the 2-d t-SNE map of
   L2-normalised rows that skhda's manifold steps cluster or take
   neighbours in (as N2D does with UMAP).
2. :func:`pivot_subgraphs`: for a batch of pivots, the instance-pivot subgraph
   (IPS): the pivot's ``k1`` nearest rows (1-hop), their ``k2`` nearest
   (2-hop), node features ``x_q - x_pivot``, each node linked to its ``u``
   nearest rows inside the subgraph, symmetric and row-normalised adjacency.
   Subgraphs are padded dense tensors ``(B, 1 + k1 + k1 k2, ...)``.
3. :class:`GraphConv` (``ReLU([X || A X] W + b)``) and :class:`LinkageGCN`:
   four graph convolutions and an edge head giving, for each 1-hop node, the
   logits of "shares the pivot's class".
4. :func:`link_components` (the paper's linkage: connected components of the
   links above a threshold, components larger than ``max_size`` re-split by
   raising the threshold) and :func:`merge_clusters` (ours: agglomerates those
   components by their mean link probability); :func:`spectral_cut` (ours:
   spectral clustering of the sparse link graph into a given number of
   clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from torch import nn

__all__ = [
    "TSNE_MAX_IMAGE_ROWS",
    "TSNE_MAX_ROWS",
    "GraphConv",
    "LinkageGCN",
    "Subgraphs",
    "balanced_link_loss",
    "knn_indices",
    "link_components",
    "link_matrix",
    "merge_clusters",
    "pivot_subgraphs",
    "shared_neighbours",
    "spectral_cut",
    "map_kmeans_labels",
    "spectral_labels",
    "tsne_angle",
    "tsne_map",
]


#: skhda's "auto" rules use t-SNE (:func:`tsne_map`) on vector targets up to this many rows
TSNE_MAX_ROWS = 5_000
#: ... and on image targets up to this many rows (CKM's t-SNE start; its image proxies
#: have 3,871 and 5,139 target rows, USPS and MNIST test 9,298 and 10,000)
TSNE_MAX_IMAGE_ROWS = 10_000
#: above this many rows :func:`spectral_labels` uses LOBPCG (memory linear in the rows)
SPECTRAL_ARPACK_MAX_ROWS = 20_000
#: CKM's t-SNE maps of image targets of more than this many rows use ``TSNE_COARSE_ANGLE``
TSNE_COARSE_MIN_ROWS = 2_000
#: ... a coarser Barnes-Hut trade-off than scikit-learn's 0.5: 0.67x the seconds of the map on
#: the CKM image proxies with the same final accuracy (doc/benchmarks/ckm.md, "A coarser t-SNE
#: for large image targets")
TSNE_COARSE_ANGLE = 0.8


# ------------------------------------------------------------------ kNN
def knn_indices(Z, k, batch_size=2048, metric="cosine"):
    """Indices of each row's ``k`` nearest rows by cosine similarity, itself first.

    Rows are L2-normalised (``metric="cosine"``) and searched with
    :class:`~sklearn.neighbors.NearestNeighbors` in blocks of ``batch_size``
    queries (memory ``O(batch_size * N)`` at most, never ``N x N``).

    Parameters
    ----------
    Z : array-like of shape (n, d)
    k : int
        Neighbours per row besides itself (clipped to ``n - 1``).
    batch_size : int, default=2048
    metric : {"cosine", "euclidean"}, default="cosine"
        "euclidean": the rows as given, no normalisation.

    Returns
    -------
    idx : ndarray of shape (n, min(k, n - 1) + 1), int64
        ``idx[i, 0] == i``; the rest in order of increasing distance.

    Examples
    --------
    >>> import numpy as np
    >>> knn_indices(np.array([[1.0, 0], [0.9, 0.1], [0, 1]]), 1).tolist()
    [[0, 1], [1, 0], [2, 1]]
    """
    Z = np.asarray(Z, dtype=np.float32).reshape(len(Z), -1)
    n = len(Z)
    k = int(min(k, n - 1))
    if metric == "cosine":
        Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}.")
    if k == 0:
        return np.arange(n, dtype=np.int64)[:, None]
    nn_ = NearestNeighbors(n_neighbors=k + 1).fit(Z)
    out = np.empty((n, k + 1), dtype=np.int64)
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(start + batch_size, n))
        idx = nn_.kneighbors(Z[rows], return_distance=False)
        # the row itself first (ties between duplicates may put it elsewhere)
        is_self = idx == rows[:, None]
        is_self[~is_self.any(1), -1] = True          # not found: drop the farthest
        is_self &= np.cumsum(is_self, 1) == 1        # keep only one per row
        out[rows, 0] = rows
        out[rows, 1:] = idx[~is_self].reshape(len(rows), k)
    return out


def tsne_angle(n_rows, images):
    """The Barnes-Hut ``angle`` of CKM's t-SNE maps of a target (:func:`tsne_map`).

    ``TSNE_COARSE_ANGLE`` (0.8) for image targets of more than
    ``TSNE_COARSE_MIN_ROWS`` (2,000) rows, where the map takes tens of
    seconds; scikit-learn's 0.5 elsewhere. On the CKM image proxies the
    coarser map took 0.67x the seconds and left the final accuracy
    unchanged (mean change -0.00001 over 12 fits); on the digits vector
    proxies (at most 900 rows) it moved single fits by up to 0.03 (CKM) and
    0.06 (CCN), and CCN's image graph lost 0.008 on a USPS proxy, so CCN,
    small and vector targets keep 0.5 (``doc/benchmarks/ckm.md``, "A coarser
    t-SNE for large image targets").

    Parameters
    ----------
    n_rows : int
    images : bool
        Whether the target rows are images.

    Returns
    -------
    angle : float

    Examples
    --------
    >>> from skhda.nn.graph import tsne_angle
    >>> tsne_angle(5000, images=True), tsne_angle(5000, images=False), tsne_angle(900, True)
    (0.8, 0.5, 0.5)
    """
    return TSNE_COARSE_ANGLE if images and n_rows > TSNE_COARSE_MIN_ROWS else 0.5


def tsne_map(X, random_state=0, normalize=True, **params):
    """2-d :class:`~sklearn.manifold.TSNE` map of the (L2-normalised) rows of ``X``.

    PCA start, perplexity ``min(30, (n - 1) / 3)``. The manifold embedding
    of skhda's t-SNE steps (CKM's ``recluster="tsne"``): k-means or
    neighbours in this map follow the data's manifold rather than its raw
    Euclidean geometry. t-SNE costs ``O(n log n)`` (seconds at a few
    thousand rows); callers keep it to small inputs.

    Parameters
    ----------
    X : array-like of shape (n, d)
        ``n >= 2``.
    random_state : int, default=0
    normalize : bool, default=True
        Scale every row to unit L2 norm first (cosine geometry).
    **params
        Other :class:`~sklearn.manifold.TSNE` parameters (``init``,
        ``max_iter``, ``angle``, ...); skhda's steps use the defaults above,
        CKM's with the ``angle`` of :func:`tsne_angle`.

    Returns
    -------
    E : ndarray of shape (n, 2)
        All zeros when the rows are identical.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.vstack([np.eye(3)[[0] * 5], np.eye(3)[[1] * 5]]) + 0.01 * np.arange(10)[:, None]
    >>> tsne_map(X).shape
    (10, 2)
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if normalize:
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    if len(X) and np.ptp(X, axis=0).max() == 0:
        # identical rows: one point (scikit-learn's Barnes-Hut t-SNE crashes on them)
        return np.zeros((len(X), 2))
    perplexity = min(30.0, (len(X) - 1) / 3.0)
    params = {"init": "pca", "perplexity": perplexity, **params}
    return TSNE(2, random_state=random_state, **params).fit_transform(X)


def map_kmeans_labels(E, n_clusters, random_state=0):
    """k-means (10 restarts) on a 2-d map ``E`` of the rows (:func:`tsne_map`), as N2D does.

    The "map" partition that skhda's t-SNE steps use and that the image rules
    of CKM's ``init`` and CCN's ``target_graph`` compare with
    :func:`spectral_labels`.

    Examples
    --------
    >>> import numpy as np
    >>> from skhda.nn.graph import map_kmeans_labels
    >>> E = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
    >>> len(set(map_kmeans_labels(E, 2)[:5].tolist()))
    1
    """
    return KMeans(n_clusters, n_init=10, random_state=random_state).fit_predict(E).astype(np.int64)


def spectral_labels(X, n_clusters, n_neighbors=10, random_state=0):
    """Spectral clustering of the rows of ``X`` (flattened) on their kNN graph.

    scikit-learn's :class:`~sklearn.cluster.SpectralClustering` with
    ``affinity="nearest_neighbors"`` and k-means labels; with (almost) one
    row per cluster, k-means on the rows (the spectral embedding needs more
    rows than clusters). ARPACK's shift-invert factorises the graph
    Laplacian, whose fill-in grows about as the square of the rows (677 MB
    at 30k rows, > 3 GB at 100k); above ``SPECTRAL_ARPACK_MAX_ROWS`` rows
    LOBPCG is used, whose memory stays linear (59 MB at 30k).

    Examples
    --------
    >>> import numpy as np
    >>> from skhda.nn.graph import spectral_labels
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))]
    >>> labels = spectral_labels(X, 2)
    >>> bool((labels[:20] == labels[0]).all() and (labels[20:] != labels[0]).all())
    True
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if len(X) <= n_clusters + 1:
        return KMeans(n_clusters, n_init=10, random_state=random_state
                      ).fit_predict(X).astype(np.int64)
    solver = "lobpcg" if len(X) > SPECTRAL_ARPACK_MAX_ROWS else None
    sc = SpectralClustering(n_clusters, affinity="nearest_neighbors",
                            n_neighbors=min(int(n_neighbors), len(X) - 1),
                            assign_labels="kmeans", eigen_solver=solver,
                            random_state=random_state)
    return sc.fit_predict(X).astype(np.int64)


def shared_neighbours(lists):
    """Share of common entries of every pair of neighbour lists ``(B, k)`` -> ``(B, B)``.

    CCN's ``target_graph`` labels a pair of rows by it (memory ``O(B^2 + B k)``).

    Parameters
    ----------
    lists : LongTensor of shape (B, k)
        Each row's neighbour indices (distinct within a row).

    Returns
    -------
    shared : Tensor of shape (B, B)
        ``|lists_i & lists_j| / k``.

    Examples
    --------
    >>> import torch
    >>> shared_neighbours(torch.tensor([[0, 1], [1, 2], [3, 4]])).tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ids, inverse = torch.unique(lists, return_inverse=True)
    member = torch.zeros(len(lists), len(ids), device=lists.device)
    member.scatter_(1, inverse, 1.0)
    return member @ member.t() / lists.shape[1]


# ---------------------------------------------------------- subgraphs
@dataclass
class Subgraphs:
    """A batch of padded instance-pivot subgraphs.

    Attributes
    ----------
    nodes : LongTensor (B, N)
        Row index of each node (sorted; duplicates are padding).
    valid : BoolTensor (B, N)
        False for padding.
    features : Tensor (B, N, d) or (B, N, d + 1)
        ``x_node - x_pivot`` (0 for padding), optionally with the similarity.
    adjacency : Tensor (B, N, N)
        Symmetric links, row-normalised.
    hop1 : LongTensor (B, k1)
        Row indices of the pivot's 1-hop nodes.
    hop1_pos : LongTensor (B, k1)
        Their positions among ``nodes``.
    """

    nodes: torch.Tensor
    valid: torch.Tensor
    features: torch.Tensor
    adjacency: torch.Tensor
    hop1: torch.Tensor
    hop1_pos: torch.Tensor


def pivot_subgraphs(features, knn, pivots, k1, k2, u, with_similarity=False):
    """The instance-pivot subgraphs of ``pivots`` (Wang et al. 2019), batched and padded.

    Parameters
    ----------
    features : Tensor (n, d)
        Node features of all rows (the encoder's, L2-normalised).
    knn : LongTensor (n, m)
        :func:`knn_indices` of the rows, ``m > max(k1, k2, u)``.
    pivots : LongTensor (B,)
    k1, k2, u : int
        1-hop neighbours, 2-hop neighbours per 1-hop node, links per node.
    with_similarity : bool, default=False
        Append each node's dot product with the pivot (its cosine similarity
        for normalised features) to its features (ours; the distance to the
        pivot is the main cue, which the GCN otherwise has to learn from
        ``x_q - x_pivot``).

    Returns
    -------
    Subgraphs
        ``N = 1 + k1 + k1 * k2`` slots per subgraph; memory ``O(B N^2)``.

    Examples
    --------
    >>> import torch
    >>> f = torch.eye(4)
    >>> knn = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 3, 1], [3, 2, 1]])
    >>> g = pivot_subgraphs(f, knn, torch.tensor([0]), k1=2, k2=1, u=1)
    >>> g.nodes[g.valid].tolist(), g.hop1.tolist(), g.hop1_pos.tolist()
    ([0, 1, 2, 3], [[1, 2]], [[2, 3]])
    """
    B = len(pivots)
    hop1 = knn[pivots, 1:k1 + 1]                                   # (B, k1)
    hop2 = knn[hop1, 1:k2 + 1].reshape(B, -1)                      # (B, k1 k2)
    nodes, _ = torch.cat([pivots[:, None], hop1, hop2], 1).sort(1)
    n = nodes.shape[1]
    valid = torch.ones_like(nodes, dtype=torch.bool)
    valid[:, 1:] = nodes[:, 1:] != nodes[:, :-1]                   # first copy of each row
    hop1_pos = torch.searchsorted(nodes, hop1)                     # leftmost = the valid copy
    # node i links to its u nearest rows when they are in the subgraph
    nbr = knn[nodes, 1:u + 1].reshape(B, -1)                       # (B, N u)
    pos = torch.searchsorted(nodes, nbr).clamp(max=n - 1)
    found = (torch.gather(nodes, 1, pos) == nbr) & valid.repeat_interleave(nbr.shape[1] // n, 1)
    adjacency = torch.zeros(B, n, n, dtype=features.dtype, device=features.device)
    rows = torch.arange(n, device=nodes.device).repeat_interleave(nbr.shape[1] // n)
    adjacency[torch.arange(B, device=nodes.device)[:, None].expand_as(pos)[found],
              rows[None].expand_as(pos)[found], pos[found]] = 1.0
    adjacency = torch.maximum(adjacency, adjacency.transpose(1, 2))
    adjacency = adjacency / adjacency.sum(2, keepdim=True).clamp(min=1.0)
    centre = features[pivots][:, None]
    x = features[nodes] - centre
    if with_similarity:   # ours: the cosine similarity to the pivot as one more feature
        x = torch.cat([x, (features[nodes] * centre).sum(2, keepdim=True)], 2)
    x = x * valid[..., None]
    return Subgraphs(nodes, valid, x, adjacency, hop1, hop1_pos)


# --------------------------------------------------------------- the GCN
class GraphConv(nn.Module):
    """Graph convolution with mean aggregation: ``ReLU([X || A X] W + b)``.

    Examples
    --------
    >>> import torch
    >>> conv = GraphConv(3, 5)
    >>> conv(torch.randn(2, 4, 3), torch.eye(4).expand(2, 4, 4)).shape
    torch.Size([2, 4, 5])
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(2 * in_features, out_features)

    def forward(self, x, adjacency):
        return F.relu(self.linear(torch.cat([x, torch.bmm(adjacency, x)], dim=2)))


class LinkageGCN(nn.Module):
    """The linkage GCN: BatchNorm of the node features, graph convolutions, an edge head.

    ``forward(subgraphs)`` returns ``(B, k1, 2)`` logits of "the 1-hop node
    shares the pivot's class" (the reference design: 4 graph convolutions,
    then ``Linear -> PReLU -> Linear`` on the 1-hop nodes).

    Parameters
    ----------
    in_features : int
    hidden_dims : sequence of int, default=(64, 64, 32, 32)
        Output widths of the graph convolutions.

    Examples
    --------
    >>> import torch
    >>> gcn = LinkageGCN(4, hidden_dims=(8, 8))
    >>> knn = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 1, 0]])
    >>> g = pivot_subgraphs(torch.randn(3, 4), knn, torch.tensor([0, 2]), 2, 1, 1)
    >>> gcn(g).shape
    torch.Size([2, 2, 2])
    """

    def __init__(self, in_features, hidden_dims=(64, 64, 32, 32)):
        super().__init__()
        self.norm = nn.BatchNorm1d(in_features, affine=False)
        sizes = [int(in_features), *(int(h) for h in hidden_dims)]
        self.convs = nn.ModuleList(GraphConv(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                   strict=True))
        self.head = nn.Sequential(nn.Linear(sizes[-1], sizes[-1]), nn.PReLU(sizes[-1]),
                                  nn.Linear(sizes[-1], 2))

    def forward(self, g):
        x = g.features
        flat = x.reshape(-1, x.shape[-1])
        mask = g.valid.reshape(-1)
        if mask.sum() > 1 or not self.training:   # statistics of the real nodes only
            flat = flat.masked_scatter(mask[:, None], self.norm(flat[mask]))
        x = flat.reshape(x.shape) * g.valid[..., None]
        for conv in self.convs:
            x = conv(x, g.adjacency)
        edges = torch.gather(x, 1, g.hop1_pos[..., None].expand(-1, -1, x.shape[-1]))
        return self.head(edges.reshape(-1, edges.shape[-1])).reshape(*edges.shape[:2], 2)


def balanced_link_loss(logits, same):
    """Class-balanced cross-entropy of link logits: mean over positives and negatives, halved.

    With few classes nearly every neighbour shares the pivot's class and a
    plain cross-entropy learns "link everything"; weighting both classes
    equally keeps the rare dissimilar links in the loss. When a batch has
    only one kind, that kind's mean is returned.

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(4, 2)
    >>> round(balanced_link_loss(logits, torch.tensor([1, 1, 1, 0])).item(), 4)
    0.6931
    """
    logits = logits.reshape(-1, 2)
    same = same.reshape(-1).long()
    ce = F.cross_entropy(logits, same, reduction="none")
    pos = same == 1
    terms = [ce[m].mean() for m in (pos, ~pos) if m.any()]
    return sum(terms) / len(terms)


# ----------------------------------------------------------- clustering
def link_matrix(n, pivots, neighbours, probabilities):
    """Symmetric sparse link weights from directed predictions ``pivot -> neighbour``.

    An edge predicted in both directions gets the mean of its two
    probabilities (the reference's ``pool="avg"``).

    Returns
    -------
    W : scipy.sparse.csr_matrix of shape (n, n)
    """
    rows = np.asarray(pivots, dtype=np.int64).ravel()
    cols = np.asarray(neighbours, dtype=np.int64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    keep = rows != cols
    rows, cols, p = rows[keep], cols[keep], p[keep]
    total = sp.coo_matrix((p + 1e-12, (rows, cols)), shape=(n, n)).tocsr()
    count = sp.coo_matrix((np.ones_like(p), (rows, cols)), shape=(n, n)).tocsr()
    total, count = total + total.T, count + count.T
    W = total.copy()
    W.data = total.data / count.data
    return W


def _components(W, nodes, threshold):
    sub = W[nodes][:, nodes]
    sub = sub.multiply(sub > threshold).tocsr()
    return connected_components(sub, directed=False)[1]


def link_components(W, threshold=0.5, max_size=None, step=0.1, max_rounds=100):
    """The paper's linkage: connected components, oversized ones re-split at higher thresholds.

    Components of the links with weight above ``threshold``; every component
    with more than ``max_size`` rows is split again on its own links with
    the threshold raised to ``t + (1 - t) * step``, until all fit (or
    ``max_rounds``).

    Parameters
    ----------
    W : sparse matrix (n, n)
        Symmetric link probabilities (:func:`link_matrix`).
    threshold : float, default=0.5
    max_size : int, optional
        None: no limit.
    step : float, default=0.1

    Returns
    -------
    labels : ndarray of shape (n,)
        Cluster ids ``0..C-1``.

    Examples
    --------
    >>> W = link_matrix(4, [0, 1, 2], [1, 2, 3], [0.9, 0.6, 0.95])
    >>> link_components(W, 0.5).tolist(), link_components(W, 0.5, max_size=2).tolist()
    ([0, 0, 0, 0], [0, 0, 1, 1])
    """
    W = sp.csr_matrix(W)
    n = W.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    todo, th, next_id = np.arange(n), float(threshold), 0
    for round_ in range(max_rounds + 1):
        comp = _components(W, todo, th)
        sizes = np.bincount(comp)
        big = (sizes > max_size) if max_size is not None and round_ < max_rounds \
            else np.zeros(len(sizes), dtype=bool)
        done = ~big[comp]
        _, ids = np.unique(comp[done], return_inverse=True)
        labels[todo[done]] = next_id + ids
        next_id += int(ids.max()) + 1 if len(ids) else 0
        todo = todo[~done]
        if not len(todo):
            break
        th = th + (1.0 - th) * step
    return labels


def _union_find_merge(labels, a, b, order, sizes, max_size, budget=None):
    """Merge cluster pairs ``(a[i], b[i])`` in ``order`` with union-find; return new labels."""
    parent = np.arange(len(sizes))
    size = sizes.copy()

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    merged = 0
    for i in order:
        if budget is not None and merged >= budget:
            break
        ra, rb = find(a[i]), find(b[i])
        if ra == rb or (max_size is not None and size[ra] + size[rb] > max_size):
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        merged += 1
    roots = np.array([find(x) for x in range(len(sizes))])
    return np.unique(roots, return_inverse=True)[1][labels], merged


def _best_per_cluster(a, s):
    """Index of the highest score ``s`` for each distinct cluster in ``a``."""
    order = np.lexsort((-s, a))
    first = np.r_[True, a[order][1:] != a[order][:-1]] if len(order) else np.zeros(0, bool)
    return order[first]


def _cluster_scores(W, labels, k):
    """Best partner of each cluster by mean link weight: ``S_AB / (k min(|A|, |B|))``."""
    c = int(labels.max()) + 1
    n = len(labels)
    M = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, c))
    S = (M.T @ W @ M).tocoo()
    off = S.row != S.col
    a, b, s = S.row[off], S.col[off], S.data[off]
    sizes = np.bincount(labels, minlength=c)
    return a, b, s / (k * np.minimum(sizes[a], sizes[b])), sizes


def merge_clusters(W, labels, k, threshold=0.2, max_size=None, n_clusters=None, Z=None,
                   min_size=1, max_rounds=50):
    """Agglomerate clusters by their mean link probability (ours).

    The paper's components are pure but fragmented. Between two clusters
    ``A, B`` let ``S_AB`` be the sum of the link probabilities between their
    rows and ``score = S_AB / (k min(|A|, |B|))`` (``k`` = links predicted
    per row): the share of the smaller cluster's link mass that points into
    the other. In rounds, each cluster proposes its best partner; proposals
    above ``threshold`` are merged, best first, never beyond ``max_size``
    rows; until no proposal is left.

    Then every cluster smaller than ``min_size`` joins the cluster (of at
    least ``min_size`` rows) it links to most, or, without links, the one
    whose mean of ``Z`` is the most similar to its own: the outliers the
    GCN links to nobody would otherwise each count as a cluster.

    With ``n_clusters``, merging goes on (ignoring ``threshold``) until
    exactly that many clusters remain: by link score while clusters are
    linked, then by the cosine similarity of cluster means of ``Z``; the
    largest clusters are split by k-means when there are too few.

    Returns
    -------
    labels : ndarray of shape (n,)
        Cluster ids ``0..C-1``.

    Examples
    --------
    >>> W = link_matrix(4, [0, 1, 2, 3], [1, 0, 3, 1], [0.9, 0.9, 0.9, 0.4])
    >>> merge_clusters(W, np.array([0, 0, 1, 1]), k=1, threshold=0.1).tolist()
    [0, 0, 0, 0]
    """
    W = sp.csr_matrix(W)
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    for _ in range(max_rounds):
        c = int(labels.max()) + 1
        need = None if n_clusters is None else c - n_clusters
        if need is not None and need <= 0:
            break
        a, b, s, sizes = _cluster_scores(W, labels, k)
        if need is None:
            keep = s > threshold
            a, b, s = a[keep], b[keep], s[keep]
        if not len(s):
            break
        # each cluster's best proposal, best first
        best = _best_per_cluster(a, s)
        best = best[np.argsort(-s[best], kind="stable")]
        labels, merged = _union_find_merge(labels, a, b, best, sizes, max_size, need)
        if merged == 0:
            break
    if min_size > 1 and (n_clusters is None or labels.max() + 1 > n_clusters):
        labels = _absorb_small(W, labels, k, min_size, Z)
    if n_clusters is not None:
        labels = _cut_to(labels, n_clusters, Z, max_size)
    return labels


def _cluster_means(Z, labels):
    Z = np.asarray(Z, dtype=np.float64).reshape(len(labels), -1)
    Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    means = np.zeros((int(labels.max()) + 1, Z.shape[1]))
    np.add.at(means, labels, Z)
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def _absorb_small(W, labels, k, min_size, Z):
    """Clusters under ``min_size`` rows join their best-linked (else most similar) big one."""
    a, b, s, sizes = _cluster_scores(W, labels, k)
    big = sizes >= min_size
    if big.all() or not big.any():
        return labels
    target = np.full(len(sizes), -1)
    keep = ~big[a] & big[b]
    a, b, s = a[keep], b[keep], s[keep]
    best = _best_per_cluster(a, s)
    target[a[best]] = b[best]
    lonely = np.flatnonzero(~big & (target < 0))
    if len(lonely) and Z is not None:
        means = _cluster_means(Z, labels)
        big_ids = np.flatnonzero(big)
        target[lonely] = big_ids[np.argmax(means[lonely] @ means[big_ids].T, axis=1)]
    target[big] = np.flatnonzero(big)
    target[target < 0] = np.flatnonzero(target < 0)
    return np.unique(target[labels], return_inverse=True)[1]


def _cut_to(labels, n_clusters, Z, max_size):
    """Exactly ``n_clusters`` clusters: merge nearest cluster means, or split the largest."""
    from sklearn.cluster import KMeans

    Z = np.asarray(Z, dtype=np.float64).reshape(len(labels), -1)
    while labels.max() + 1 > n_clusters:
        means = _cluster_means(Z, labels)
        sizes = np.bincount(labels, minlength=len(means))
        # the smallest cluster joins the cluster with the most similar mean
        small = int(np.argmin(sizes))
        sim = means @ means[small]
        sim[small] = -np.inf
        labels = np.where(labels == small, int(np.argmax(sim)), labels)
        labels = np.unique(labels, return_inverse=True)[1]
    while labels.max() + 1 < n_clusters:
        sizes = np.bincount(labels)
        big = int(np.argmax(sizes))
        if sizes[big] < 2:
            break
        rows = np.flatnonzero(labels == big)
        split = KMeans(2, n_init=3, random_state=0).fit_predict(Z[rows])
        labels = labels.copy()
        labels[rows[split == 1]] = labels.max() + 1
    return labels


def spectral_cut(W, n_clusters, random_state=0):
    """Spectral clustering of the sparse link graph ``W`` into ``n_clusters`` clusters.

    :class:`~sklearn.cluster.SpectralClustering` on ``W`` as a precomputed
    affinity (sparse, ``O(nnz)`` memory; the embedding by ARPACK), labels by
    k-means on the spectral embedding. With ``n_clusters >= n`` every row is
    its own cluster.

    Parameters
    ----------
    W : scipy.sparse matrix of shape (n, n)
        Symmetric non-negative link weights (e.g. :func:`link_matrix`).
    n_clusters : int
    random_state : int, default=0
        Seed of the eigensolver's start vector and of the k-means.

    Returns
    -------
    labels : ndarray of shape (n,), int64

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> block = np.ones((3, 3)) - np.eye(3)
    >>> W = sp.csr_matrix(np.block([[block, 0.01 * np.ones((3, 3))],
    ...                             [0.01 * np.ones((3, 3)), block]]))
    >>> labels = spectral_cut(W, 2)
    >>> bool(len(set(labels[:3])) == 1 and labels[0] != labels[3])
    True
    """
    n = W.shape[0]
    if n_clusters >= n:
        return np.arange(n, dtype=np.int64)
    if n_clusters == 1:
        return np.zeros(n, dtype=np.int64)
    A = sp.csr_matrix(W, dtype=np.float64)
    A = (A + A.T) * 0.5 + sp.identity(n, format="csr") * 1e-6   # no zero-degree rows
    model = SpectralClustering(n_clusters, affinity="precomputed", random_state=random_state)
    return model.fit_predict(A).astype(np.int64)
