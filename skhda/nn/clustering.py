"""Deep clustering losses: Concrete k-means (CKM), DEC and DCN, one job per piece.

Each clustering head is a small :class:`torch.nn.Module` holding ``K``
centroids of the embedding space:

- :class:`ConcreteKMeans`: the CKM loss (Gao et al., equation 2): the
  k-means objective with a straight-through Gumbel-softmax one-hot
  assignment, so encoder and centroids are trained end-to-end by back-propagation;
- :class:`DECClustering`: DEC's (Xie et al. 2016) KL divergence between the
  Student-t soft assignment ``Q`` and its sharpened target ``P``;
- :class:`DCNClustering`: DCN's (Yang et al. 2017) k-means term with the
  centroids fixed in the gradient step and updated online afterwards.

Every head has ``centroids``, ``forward(z) -> loss`` and
``soft_assignment(z) -> (n, K)`` probabilities. The loss functions under them
are plain functions, each tested against a hand-computed value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConcreteKMeans",
    "DCNClustering",
    "DECClustering",
    "concrete_kmeans_loss",
    "dcn_loss",
    "dcn_update_centroids",
    "dec_loss",
    "dec_soft_assignment",
    "dec_target_distribution",
    "kshot_loss",
    "rbf_logits",
    "squared_distances",
    "straight_through_gumbel_softmax",
]


def squared_distances(z, centroids):
    """``||z_i - mu_k||^2`` for every row ``i`` and centroid ``k``, shape ``(n, K)``.

    Examples
    --------
    >>> import torch
    >>> squared_distances(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
    tensor([[25.,  1.]])
    """
    # the explicit difference is exact (the expanded form can go negative)
    return (z.unsqueeze(1) - centroids.unsqueeze(0)).pow(2).sum(-1)


def rbf_logits(z, centroids):
    """Logits ``-||z - mu_j||^2`` of the RBF classifier whose means are the centroids.

    ``softmax`` of them is ``r_M(z)`` (CKM paper, equation 5); they also
    parameterise the Gumbel-softmax assignment of the CKM loss.
    """
    return -squared_distances(z, centroids)


def straight_through_gumbel_softmax(logits, temperature=1.0, noise=None):
    """A one-hot sample of ``softmax(logits)``, differentiable by straight-through.

    The forward value is the hard one-hot ``argmax(logits + g)``, ``g`` Gumbel
    noise; the gradient is that of the relaxed sample
    ``softmax((logits + g) / temperature)`` (Jang et al. 2017; Maddison et
    al. 2017).

    Parameters
    ----------
    logits : tensor of shape (n, K)
    temperature : float
        Temperature of the relaxed sample (lower: closer to one-hot).
    noise : tensor of shape (n, K), optional
        The Gumbel noise; drawn from the torch RNG when None (give zeros
        for the deterministic nearest-logit assignment).

    Examples
    --------
    >>> import torch
    >>> h = straight_through_gumbel_softmax(torch.tensor([[2.0, 1.0]]), noise=torch.zeros(1, 2))
    >>> h.tolist()
    [[1.0, 0.0]]
    """
    if noise is None:
        u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
        noise = -torch.log(-torch.log(u))
    soft = F.softmax((logits + noise) / temperature, dim=-1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def concrete_kmeans_loss(z, centroids, assignment):
    """CKM loss ``||z_i - h_i M||^2``, summed over dimensions, averaged over rows.

    The CKM paper's equation 2 (a sum over rows there; a mean here, so the
    weight ``lambda_1`` does not depend on the batch size).

    Parameters
    ----------
    z : tensor of shape (n, d)
    centroids : tensor of shape (K, d)
        ``M``.
    assignment : tensor of shape (n, K)
        ``h``, one-hot rows (e.g. :func:`straight_through_gumbel_softmax`).

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    >>> M = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    >>> concrete_kmeans_loss(z, M, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    tensor(1.5000)
    """
    return (z - assignment @ centroids).pow(2).sum(1).mean()


def kshot_loss(z, centroids, y):
    """k-shot loss: cross-entropy of the RBF classifier ``r_M`` (CKM paper, equation 7).

    Averaged over the labelled rows; ``y`` indexes the centroids.
    """
    return F.cross_entropy(rbf_logits(z, centroids), y)


def dec_soft_assignment(z, centroids, alpha=1.0):
    """DEC's Student-t assignment ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^-((alpha+1)/2)``."""
    q = (1.0 + squared_distances(z, centroids) / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def dec_target_distribution(q):
    """DEC's sharpened target ``p_ij ∝ q_ij^2 / f_j``, ``f_j = sum_i q_ij``.

    Examples
    --------
    >>> import torch
    >>> dec_target_distribution(torch.tensor([[0.5, 0.5], [1.0, 0.0]])).tolist()
    [[0.25, 0.75], [1.0, 0.0]]
    """
    weight = q.pow(2) / q.sum(0)
    return weight / weight.sum(1, keepdim=True)


def dec_loss(q, p):
    """``KL(P || Q)`` summed over clusters, averaged over rows (DEC, equation 2)."""
    p = p.detach()
    return (torch.special.xlogy(p, p) - p * torch.log(q.clamp_min(1e-12))).sum(1).mean()


def dcn_loss(z, centroids, assignment):
    """DCN's clustering term ``1/2 ||z_i - M s_i||^2`` with ``M`` and ``s`` held fixed.

    ``assignment`` holds the index of each row's centroid. Averaged over rows.
    """
    return 0.5 * (z - centroids.detach()[assignment]).pow(2).sum(1).mean()


@torch.no_grad()
def dcn_update_centroids(centroids, counts, z, assignment):
    """DCN's online centroid update, in place, one row at a time.

    ``c_k += 1``; ``mu_k <- mu_k - (1 / c_k) (mu_k - z_i)`` for each row
    ``i`` assigned to ``k`` (the per-batch closed form of the same
    sequential updates: each centroid moves to a running mean).
    """
    for k in torch.unique(assignment).tolist():
        rows = z[assignment == k]
        n_k = len(rows)
        # sequential running-mean updates of n_k rows == one weighted step
        new_count = counts[k] + n_k
        centroids[k] += (rows.sum(0) - n_k * centroids[k]) / new_count
        counts[k] = new_count


class _Clustering(nn.Module):
    """Centroids ``M`` (``K x d``) and the shared assignment helpers."""

    def __init__(self, n_clusters, embedding_dim, trainable=True):
        super().__init__()
        init = torch.zeros(n_clusters, embedding_dim)
        if trainable:
            self.centroids = nn.Parameter(init)
        else:
            self.register_buffer("centroids", init)

    @torch.no_grad()
    def set_centroids(self, centroids):
        self.centroids.copy_(torch.as_tensor(centroids, dtype=self.centroids.dtype))

    def soft_assignment(self, z):
        """``softmax_j(-||z - mu_j||^2)``: the RBF classifier ``r_M``."""
        return F.softmax(rbf_logits(z, self.centroids), dim=1)

    def predict(self, z):
        """Index of the nearest centroid."""
        return squared_distances(z, self.centroids).argmin(1)


class ConcreteKMeans(_Clustering):
    """The CKM clustering head: ``L_CKM`` with a straight-through Gumbel-softmax.

    ``forward(z)`` samples ``h_i`` from the Gumbel-softmax with logits
    ``-||z_i - mu_k||^2`` and returns :func:`concrete_kmeans_loss`; the
    centroids are parameters trained with the encoder. ``temperature`` is set
    during training by an annealing schedule.
    """

    def __init__(self, n_clusters, embedding_dim, temperature=1.0):
        super().__init__(n_clusters, embedding_dim, trainable=True)
        self.temperature = temperature

    def forward(self, z):
        h = straight_through_gumbel_softmax(rbf_logits(z, self.centroids), self.temperature)
        return concrete_kmeans_loss(z, self.centroids, h)


class DECClustering(_Clustering):
    """The DEC clustering head: ``KL(P || Q)`` with a target ``P`` refreshed periodically.

    ``P`` for the rows of a batch is looked up by row index in the buffer
    ``target_distribution`` (``n x K``), which the caller refreshes over the
    whole target every few iterations (:meth:`refresh_target`). Without a
    buffer (or without indices) ``P`` is computed from the batch itself.
    """

    def __init__(self, n_clusters, embedding_dim, alpha=1.0):
        super().__init__(n_clusters, embedding_dim, trainable=True)
        self.alpha = alpha
        self.register_buffer("target_distribution", torch.zeros(0, n_clusters))

    def soft_assignment(self, z):
        return dec_soft_assignment(z, self.centroids, self.alpha)

    @torch.no_grad()
    def refresh_target(self, q_all):
        """Set ``P`` from the soft assignment of every target row."""
        self.target_distribution = dec_target_distribution(q_all)

    def forward(self, z, index=None):
        q = self.soft_assignment(z)
        if index is not None and len(self.target_distribution):
            p = self.target_distribution[index]
        else:
            p = dec_target_distribution(q)
        return dec_loss(q, p)


class DCNClustering(_Clustering):
    """The DCN clustering head: hard k-means term, then an online centroid update.

    In training mode ``forward(z)`` assigns each row to its nearest centroid
    (network fixed), returns :func:`dcn_loss` and then moves the centroids
    with :func:`dcn_update_centroids`; the centroids are buffers, not
    trained by the optimiser (DCN's alternating optimisation).
    """

    def __init__(self, n_clusters, embedding_dim):
        super().__init__(n_clusters, embedding_dim, trainable=False)
        self.register_buffer("counts", torch.ones(n_clusters))

    def forward(self, z):
        assignment = squared_distances(z.detach(), self.centroids).argmin(1)
        loss = dcn_loss(z, self.centroids, assignment)
        if self.training:
            dcn_update_centroids(self.centroids, self.counts, z.detach(), assignment)
        return loss
