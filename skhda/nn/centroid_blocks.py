"""TDCM's learnable centroid-updating blocks and its loss pieces, one job each.

Notation of the TDCM paper (Zhang & Zhao): embeddings ``z_i``, centroids
``c_j^(l)`` after block ``l``, assignments ``delta_ij^(l)``, the learnable
score

    l(z, c) = -sigma(W_Q (z - c) . W_K (z - c)) / tau          (equation 2)

with ``W_Q``, ``W_K`` symmetric and ``sigma`` a LeakyReLU.

- :func:`symmetric_part`, :func:`orthogonal_centroids`,
  :func:`batch_standardize`: small helpers;
- :class:`CentroidUpdatingBlock`: one assignment + soft centroid update;
- :class:`CentroidBlocks`: ``L`` blocks from the initial orthogonal centroids;
- :func:`clustering_loss` (equation 4), :func:`size_balance_loss`
  (equation 5, as a penalty), :func:`orthogonality_penalty` (the constraint
  of equation 4 as a regulariser), :func:`block_weights` (the ``alpha_l``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CentroidBlocks",
    "CentroidUpdatingBlock",
    "batch_standardize",
    "block_weights",
    "clustering_loss",
    "orthogonal_centroids",
    "orthogonality_penalty",
    "size_balance_loss",
    "symmetric_part",
]


def symmetric_part(a: torch.Tensor) -> torch.Tensor:
    """``(A + A^T) / 2``: the parameterisation of a real-symmetric matrix.

    Examples
    --------
    >>> import torch
    >>> symmetric_part(torch.tensor([[1.0, 2.0], [0.0, 3.0]])).tolist()
    [[1.0, 1.0], [1.0, 3.0]]
    """
    return 0.5 * (a + a.transpose(-1, -2))


def orthogonal_centroids(n_clusters: int, dim: int) -> torch.Tensor:
    """The initial centroids: ``n_clusters`` orthonormal vectors (identity rows).

    With ``n_clusters > dim`` no such set exists; the rows are then unit
    vectors spread evenly by cosine/sine harmonics (``n_clusters`` points on
    a closed curve of the unit sphere), as far from each other as a fixed
    rule easily gets. Deterministic: no random draw.

    Examples
    --------
    >>> orthogonal_centroids(2, 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    >>> c = orthogonal_centroids(5, 2)
    >>> bool(torch.allclose(c.norm(dim=1), torch.ones(5)))
    True
    """
    if n_clusters <= dim:
        return torch.eye(n_clusters, dim)
    # K points evenly spread on harmonics: columns orthogonal, rows equal norm
    k = torch.arange(n_clusters, dtype=torch.float64)
    cols = []
    for m in range(dim):
        freq = m // 2 + 1
        fn = torch.cos if m % 2 == 0 else torch.sin
        cols.append(fn(2 * math.pi * freq * k / n_clusters + 0.5))
    c = torch.stack(cols, 1)
    c = c / c.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return c.float()


def batch_standardize(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Centre each embedding dimension on the batch and scale it to unit variance.

    skhda's anti-collapse step for TDCM (not in the paper): the embedding
    cannot shrink to a point, because its per-batch spread is fixed.

    Examples
    --------
    >>> z = batch_standardize(torch.tensor([[0.0, 1.0], [2.0, 5.0]]))
    >>> z.round(decimals=3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    mean = z.mean(0, keepdim=True)
    var = z.var(0, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


def block_weights(n_blocks: int) -> torch.Tensor:
    """The block weights ``alpha_l``: linearly increasing in ``l``, summing to 1.

    Examples
    --------
    >>> [round(a, 3) for a in block_weights(4).tolist()]
    [0.1, 0.2, 0.3, 0.4]
    """
    w = torch.arange(1, n_blocks + 1, dtype=torch.float32)
    return w / w.sum()


def clustering_loss(delta: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """``-sum_j delta_ij l(z_i, c_j)``, averaged over the rows (one block of equation 4).

    Examples
    --------
    >>> clustering_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[-2.0, -5.0]]))
    tensor(2.)
    """
    return -(delta * score).sum(1).mean()


def size_balance_loss(delta: torch.Tensor) -> torch.Tensor:
    """``log K - H(pi)``, ``pi_j`` the mean assignment to cluster ``j`` (equation 5).

    The negative entropy of the cluster sizes plus the constant ``log K``, so
    it is 0 for equal sizes and ``log K`` when every row is in one cluster;
    minimising it maximises the entropy, as the paper intends.

    Examples
    --------
    >>> float(size_balance_loss(torch.tensor([[1.0, 0.0], [0.0, 1.0]])))
    0.0
    >>> round(float(size_balance_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))), 4)
    0.6931
    """
    pi = delta.mean(0)
    entropy = -(pi * torch.log(pi.clamp_min(1e-12))).sum()
    return math.log(delta.shape[1]) - entropy


def assignment_consistency(blocks, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``-mean_i log sum_j delta1_ij delta2_ij``: two views of a row share a cluster.

    The centroids are adapted on the first view ``z1``; both views are then
    assigned to them, so cluster ids match (SCAN's consistency term, with the
    balance term of the blocks against the trivial solution).
    """
    centroids = blocks.adapt(z1)
    agree = (blocks.assign(z1, centroids) * blocks.assign(z2, centroids)).sum(1)
    return -torch.log(agree.clamp_min(1e-8)).mean()


def orthogonality_penalty(w: torch.Tensor) -> torch.Tensor:
    """``||W W^T - I||_F^2``: the constraint ``W W^T = I`` as a regulariser.

    Examples
    --------
    >>> float(orthogonality_penalty(torch.eye(3)))
    0.0
    >>> float(orthogonality_penalty(2 * torch.eye(2)))
    18.0
    """
    eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
    return (w @ w.transpose(0, 1) - eye).pow(2).sum()


class CentroidUpdatingBlock(nn.Module):
    """One learnable centroid-updating block (LCUB, the paper's Figure 2b).

    Assignment ``delta_ij = softmax_j l(z_i, c_j)`` with the learnable score
    of equation 2, then the soft update ``c_j <- sum_i delta_ij z_i /
    sum_i delta_ij`` (equation 1 with the per-cluster normaliser of soft
    k-means / the GMM M-step, Theorem 4.2; the paper's printed normaliser
    ``sum_ij delta_ij`` would shrink every centroid towards the origin).

    Parameters
    ----------
    dim : int
        Embedding dimension.
    temperature : float, default=1.0
        ``tau``.
    symmetric : bool, default=True
        Parameterise ``W_Q``, ``W_K`` as ``(A + A^T) / 2``. False is the
        paper's *variant-R* ablation.
    negative_slope : float, default=0.01
        Slope of the LeakyReLU ``sigma`` below 0.
    init_noise : float, default=0.0
        ``W_Q``, ``W_K`` start as ``I + init_noise * N(0, 1)`` (independent
        draws, so without the symmetric constraint ``W_Q^T W_K`` need not be
        positive definite).

    Examples
    --------
    >>> import torch
    >>> block = CentroidUpdatingBlock(2)
    >>> z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> delta, c = block(z, torch.tensor([[0.0, 0.0], [4.0, 4.0]]))
    >>> delta.argmax(1).tolist()
    [0, 0, 1, 1]
    >>> [[round(v, 2) for v in row] for row in c.tolist()]
    [[0.05, 0.0], [5.05, 5.0]]
    """

    def __init__(self, dim, temperature=1.0, symmetric=True, negative_slope=0.01,
                 init_noise=0.0):
        super().__init__()
        # near the identity: the score starts as the k-means one (Theorem 4.2)
        self.query = nn.Parameter(torch.eye(dim) + init_noise * torch.randn(dim, dim))
        self.key = nn.Parameter(torch.eye(dim) + init_noise * torch.randn(dim, dim))
        self.temperature = temperature
        self.symmetric = symmetric
        self.negative_slope = negative_slope

    def weights(self):
        """``(W_Q, W_K)``, symmetrised unless ``symmetric=False``."""
        if self.symmetric:
            return symmetric_part(self.query), symmetric_part(self.key)
        return self.query, self.key

    def score(self, z, centroids):
        """``l(z_i, c_j)`` of equation 2, a ``(n, K)`` tensor (0 at ``z = c``, else < 0)."""
        w_q, w_k = self.weights()
        p = z.unsqueeze(1) - centroids.unsqueeze(0)          # (n, K, b)
        inner = ((p @ w_q.T) * (p @ w_k.T)).sum(-1)
        return -F.leaky_relu(inner, self.negative_slope) / self.temperature

    def assign(self, z, centroids):
        """Soft assignments ``delta`` of the rows to ``centroids``."""
        return self.score(z, centroids).softmax(1)

    def forward(self, z, centroids):
        """Assign, then update; return ``(delta, new_centroids)``."""
        delta = self.assign(z, centroids)
        mass = delta.sum(0).clamp_min(1e-8).unsqueeze(1)
        return delta, (delta.T @ z) / mass


class CentroidBlocks(nn.Module):
    """``L`` centroid-updating blocks run from fixed orthogonal initial centroids.

    Parameters
    ----------
    n_clusters : int
    dim : int
    n_blocks : int, default=4
    temperature, symmetric, negative_slope, init_noise
        See :class:`CentroidUpdatingBlock`.

    Examples
    --------
    >>> import torch
    >>> blocks = CentroidBlocks(2, 2, n_blocks=3)
    >>> z = torch.tensor([[2.0, 0.0], [2.2, 0.0], [0.0, 2.0], [0.0, 2.2]])
    >>> blocks.predict(z).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, n_clusters, dim, n_blocks=4, temperature=1.0, symmetric=True,
                 negative_slope=0.01, init_noise=0.0):
        super().__init__()
        self.n_clusters = n_clusters
        self.register_buffer("initial_centroids", orthogonal_centroids(n_clusters, dim))
        self.blocks = nn.ModuleList(
            CentroidUpdatingBlock(dim, temperature, symmetric, negative_slope, init_noise)
            for _ in range(n_blocks)
        )

    def forward(self, z, initial=None):
        """Run every block; return the list of ``(delta^(l), c^(l))``, ``l = 1..L``.

        ``initial`` replaces ``c^(0)`` (default: the orthogonal
        ``initial_centroids``).
        """
        c = self.initial_centroids if initial is None else initial
        out = []
        for block in self.blocks:
            delta, c = block(z, c)
            out.append((delta, c))
        return out

    def adapt(self, z, initial=None):
        """The centroids ``c^(L)`` adapted to the rows ``z`` (from ``initial`` if given)."""
        return self.forward(z, initial)[-1][1]

    def assign(self, z, centroids):
        """Final soft assignments of ``z`` to adapted ``centroids`` (last block's score)."""
        return self.blocks[-1].assign(z, centroids)

    def predict(self, z):
        """Cluster of each row: adapt on ``z``, then assign."""
        return self.assign(z, self.adapt(z)).argmax(1)

    def losses(self, z, alphas=None, initial=None):
        """Block-weighted clustering term and size-balance term of ``z``.

        Returns ``(clustering, balance)``: ``sum_l alpha_l`` of
        :func:`clustering_loss` (each block's assignments scored against
        that block's updated centroids, equation 4) and of
        :func:`size_balance_loss` (equation 5). ``initial`` as in :meth:`forward`.
        """
        if alphas is None:
            alphas = block_weights(len(self.blocks)).to(z.device)
        clustering = balance = 0.0
        for a, block, (delta, c) in zip(alphas, self.blocks, self.forward(z, initial),
                                         strict=True):
            clustering = clustering + a * clustering_loss(delta, block.score(z, c))
            balance = balance + a * size_balance_loss(delta)
        return clustering, balance

    def orthogonality(self):
        """Sum of :func:`orthogonality_penalty` over every block's ``W_Q`` and ``W_K``."""
        total = 0.0
        for block in self.blocks:
            for w in block.weights():
                total = total + orthogonality_penalty(w)
        return total
