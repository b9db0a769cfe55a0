"""Pairwise pieces of the CCN family: pair targets, the similarity head, KCL and MCL.

Hsu, Lv and Kira, "Learning to cluster in order to transfer across domains
and tasks" (ICLR 2018), and Hsu et al., "Multi-class classification without
multi-class labels" (ICLR 2019) for MCL. Every loss works on the dense
``B x B`` matrix of a batch's ordered pairs (self-pairs included), built by
broadcasting: memory and time are ``O(B^2)`` per batch, never ``O(N^2)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import enumerate_pairs

__all__ = [
    "KCL",
    "MCL",
    "PairwiseSimilarityHead",
    "kcl_loss",
    "mcl_loss",
    "pair_targets",
]


def pair_targets(y):
    """The ``B x B`` "same class" matrix of a batch's labels (1.0 similar, 0.0 not).

    Examples
    --------
    >>> import torch
    >>> pair_targets(torch.tensor([0, 1, 0])).tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """
    return (y.unsqueeze(1) == y.unsqueeze(0)).float()


def kcl_loss(logits, similarity, margin=2.0):
    """KL-divergence contrastive loss (KCL, the paper's LCO, equations 2-5).

    For every ordered pair ``(i, j)`` of the batch, with ``p = softmax(logits)``
    and ``KL_ij = KL(p_i* || p_j)`` where ``p_i*`` is detached: a similar pair
    costs ``KL_ij``, a dissimilar pair ``max(0, margin - KL_ij)``. Both orders
    of a pair are in the matrix, which gives the symmetric cost of the paper.
    The mean is over all ``B^2`` pairs.

    Parameters
    ----------
    logits : tensor of shape (B, K)
        Cluster logits of the clustering network.
    similarity : tensor of shape (B, B)
        Pair labels (1 similar, 0 dissimilar); may be soft.
    margin : float, default=2.0
        The hinge margin ``sigma``.

    Examples
    --------
    >>> import torch
    >>> logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(kcl_loss(logits, torch.eye(2)).item(), 4)  # i != j dissimilar
    0.7803
    """
    logp = F.log_softmax(logits, dim=1)
    logp_star = logp.detach()
    p_star = logp_star.exp()
    # KL(p_i* || p_j) = sum_k p_ik* (log p_ik* - log p_jk), for all (i, j) at once
    kl = (p_star * logp_star).sum(1, keepdim=True) - p_star @ logp.t()
    return (similarity * kl + (1 - similarity) * torch.clamp(margin - kl, min=0)).mean()


def mcl_loss(logits, similarity, eps=1e-7):
    """Meta classification likelihood (MCL): binary cross-entropy on ``P_ij = p_i . p_j``.

    ``p = softmax(logits)``; ``P_ij`` is the probability that rows ``i`` and
    ``j`` fall in the same cluster, scored against the pair label. Mean over
    all ``B^2`` ordered pairs. ``P_ij`` is clamped to ``[eps, 1 - eps]``
    (out of place) to keep the logarithms finite.

    Parameters
    ----------
    logits : tensor of shape (B, K)
    similarity : tensor of shape (B, B)
        Pair labels (1 similar, 0 dissimilar).
    eps : float, default=1e-7

    Examples
    --------
    >>> import torch
    >>> logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(mcl_loss(logits, torch.eye(2)).item(), 4)
    0.5695
    """
    p = F.softmax(logits, dim=1)
    same = (p @ p.t()).clamp(eps, 1 - eps)
    return F.binary_cross_entropy(same, similarity.to(same.dtype))


class KCL(nn.Module):
    """:func:`kcl_loss` as a module: ``KCL(margin)(logits, similarity)``."""

    def __init__(self, margin=2.0):
        super().__init__()
        self.margin = margin

    def forward(self, logits, similarity):
        return kcl_loss(logits, similarity, self.margin)


class MCL(nn.Module):
    """:func:`mcl_loss` as a module: ``MCL()(logits, similarity)``."""

    def forward(self, logits, similarity):
        return mcl_loss(logits, similarity)


class PairwiseSimilarityHead(nn.Module):
    """The head of the similarity network G (the paper's figure 3).

    Pair enumeration (``B^2`` ordered pairs by broadcasting), concatenation,
    ``Linear -> BatchNorm -> ReLU -> Linear`` to two logits (dissimilar,
    similar).

    Parameters
    ----------
    in_features : int
        Dimension of one row's embedding.
    hidden_dim : int, default=256

    Examples
    --------
    >>> import torch
    >>> head = PairwiseSimilarityHead(8, hidden_dim=16).eval()
    >>> head(torch.zeros(5, 8)).shape       # all 25 ordered pairs
    torch.Size([25, 2])
    >>> head.similarity_matrix(torch.zeros(5, 8)).shape
    torch.Size([5, 5])
    """

    def __init__(self, in_features, hidden_dim=256):
        super().__init__()
        self.fc = nn.Linear(2 * in_features, hidden_dim)
        self.bn = nn.BatchNorm1d(hidden_dim)
        self.out = nn.Linear(hidden_dim, 2)

    def forward(self, z):
        """Logits of all ``B * B`` ordered pairs of ``z``; row ``i * B + j`` is ``(i, j)``."""
        return self.pair_logits_from_concat(enumerate_pairs(z))

    def pair_logits_from_concat(self, pairs):
        return self.out(F.relu(self.bn(self.fc(pairs))))

    def pair_logits(self, z_left, z_right):
        """Logits of the aligned pairs ``(z_left[i], z_right[i])``."""
        return self.pair_logits_from_concat(torch.cat([z_left, z_right], dim=1))

    def similarity_matrix(self, z, block=None, max_bytes=2**23):
        """``P(similar)`` for every ordered pair of ``z``, as a ``(n, n)`` tensor.

        The first layer is split into its left and right halves
        (``W [z_i, z_j] = W_l z_i + W_r z_j``), so no ``n^2 x 2d`` pair tensor
        is built; in eval mode the BatchNorm (an affine map then) is folded
        into both halves and the two-logit softmax is a sigmoid of the logit
        difference. Rows are done in blocks of ``block`` rows, by default as
        many as keep the ``block x n x hidden`` intermediate under
        ``max_bytes`` (8 MiB): the memory is the ``n x n`` result plus one
        block, whatever ``n``.
        """
        n, d = z.shape
        left = z @ self.fc.weight[:, :d].t() + self.fc.bias
        right = z @ self.fc.weight[:, d:].t()
        bn = self.bn
        fold = not bn.training and bn.running_mean is not None
        if fold:   # eval BatchNorm is x * scale + shift
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale + (bn.bias if bn.bias is not None else 0.0)
            left, right = left * scale + shift, right * scale
        w = self.out.weight[1] - self.out.weight[0]
        c = self.out.bias[1] - self.out.bias[0]
        hidden = left.shape[1]
        if block is None:
            block = int(max_bytes // (max(n, 1) * hidden * z.element_size()))
        block = max(1, int(block))
        S = z.new_empty((n, n))
        for start in range(0, n, block):
            h = left[start:start + block, None, :] + right[None, :, :]
            if not fold:
                h = bn(h.reshape(-1, hidden)).reshape(h.shape)
            S[start:start + block] = torch.sigmoid(h.relu_() @ w + c)
            del h   # before the next block is allocated
        return S
