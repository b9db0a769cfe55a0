"""Class-level alignment pieces: class centroids, source soft labels, prototype
pseudo-labels and the explicit (centroid) semantic alignment loss.

Used by :class:`skhda.SSAN` (Li et al., "Simultaneous Semantic Alignment
Network for Heterogeneous Domain Adaptation", ACM MM 2020); each function has
one job and works on one batch, in one pass over its rows (no loop over rows).
Class ids are ``0..n_classes-1``; ``-1`` marks a row without a label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "class_sums",
    "prototype_pseudo_labels",
    "semantic_alignment_loss",
    "soft_label_loss",
    "source_soft_labels",
]


def class_sums(z, y, n_classes):
    """Per-class sums and counts of the rows of ``z`` (rows with ``y == -1`` ignored).

    Returns
    -------
    sums : tensor of shape (n_classes, d)
    counts : tensor of shape (n_classes,), float

    Examples
    --------
    >>> import torch
    >>> s, c = class_sums(torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([0, 0, -1]), 2)
    >>> s.flatten().tolist(), c.tolist()
    ([4.0, 0.0], [2.0, 0.0])
    """
    keep = y >= 0
    z, y = z[keep], y[keep]
    sums = z.new_zeros(n_classes, z.shape[1]).index_add(0, y, z)
    counts = z.new_zeros(n_classes).index_add(0, y, torch.ones_like(y, dtype=z.dtype))
    return sums, counts


def _means(sums, counts):
    return sums / counts.clamp_min(1.0).unsqueeze(1)


def source_soft_labels(logits_source, y_source, n_classes, temperature=5.0):
    """The soft label of each class: the mean tempered softmax of its source rows.

    ``q[k] = mean over source rows of class k of softmax(logits / T)`` (SSAN,
    equation 2). Rows of classes absent from the batch are zero.

    Returns
    -------
    q : tensor of shape (n_classes, n_classes)
    counts : tensor of shape (n_classes,)

    Examples
    --------
    >>> import torch
    >>> q, c = source_soft_labels(torch.zeros(2, 3), torch.tensor([1, 1]), 3, temperature=5.0)
    >>> [round(v, 4) for v in q[1].tolist()], c.tolist()
    ([0.3333, 0.3333, 0.3333], [0.0, 2.0, 0.0])
    """
    sums, counts = class_sums(torch.softmax(logits_source / temperature, dim=1), y_source,
                              n_classes)
    return _means(sums, counts), counts


def soft_label_loss(logits, y, soft_labels):
    """Cross-entropy of predictions against the soft label of each row's class.

    ``-mean_i q(y_i) . log softmax(logits_i)`` (SSAN, equation 3); the
    predictions are not tempered.

    Examples
    --------
    >>> import torch
    >>> q = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    >>> round(soft_label_loss(torch.zeros(1, 2), torch.tensor([0]), q).item(), 4)  # log 2
    0.6931
    """
    return -(soft_labels[y] * F.log_softmax(logits, dim=1)).sum(1).mean()


def prototype_pseudo_labels(z_unlabelled, logits_unlabelled, z_labelled, y_labelled, n_classes):
    """Pseudo-labels where the nearest class prototype agrees with the classifier.

    The prototype of class ``k`` is the mean of the labelled rows ``z_labelled``
    of class ``k`` (SSAN: the source rows and the labelled target rows,
    equation 5). An unlabelled row gets the classifier's argmax as its
    pseudo-label when that is also its cosine-nearest prototype (equation 6
    and the agreement rule), else ``-1``. Classes without a labelled row have
    no prototype and are never chosen by it. No gradient flows.

    Returns
    -------
    labels : long tensor of shape (n_unlabelled,)

    Examples
    --------
    >>> import torch
    >>> zl, yl = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    >>> zu = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    >>> logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]])   # the second row disagrees
    >>> prototype_pseudo_labels(zu, logits, zl, yl, 2).tolist()
    [0, -1]
    """
    with torch.no_grad():
        sums, counts = class_sums(z_labelled, y_labelled, n_classes)
        cos = F.normalize(z_unlabelled, dim=1) @ F.normalize(sums, dim=1).T
        cos = cos.masked_fill(counts == 0, float("-inf"))
        nearest = cos.argmax(1)
        predicted = logits_unlabelled.argmax(1)
        return torch.where(nearest == predicted, predicted, torch.full_like(predicted, -1))


def semantic_alignment_loss(z_source, y_source, z_target, y_target, n_classes):
    """Explicit semantic alignment: pull the source, target and joint class centroids together.

    ``sum_k ||mu_s - mu_t||^2 + ||mu_s - mu_st||^2 + ||mu_t - mu_st||^2``
    (SSAN, equation 8) over the classes present in both domains' rows, with
    ``mu_s``, ``mu_t`` the class means of the source and target rows and
    ``mu_st`` the mean of their union (equation 7). Target rows with
    ``y_target == -1`` are ignored.

    Examples
    --------
    >>> import torch
    >>> zs, zt = torch.tensor([[0.0], [0.0]]), torch.tensor([[3.0]])
    >>> y = torch.tensor([0, 0])
    >>> semantic_alignment_loss(zs, y, zt, torch.tensor([0]), 2).item()  # 9 + 1 + 4
    14.0
    """
    sum_s, n_s = class_sums(z_source, y_source, n_classes)
    sum_t, n_t = class_sums(z_target, y_target, n_classes)
    mu_s, mu_t = _means(sum_s, n_s), _means(sum_t, n_t)
    mu_st = _means(sum_s + sum_t, n_s + n_t)
    both = ((n_s > 0) & (n_t > 0)).to(z_source.dtype)
    per_class = ((mu_s - mu_t).pow(2).sum(1) + (mu_s - mu_st).pow(2).sum(1)
                 + (mu_t - mu_st).pow(2).sum(1))
    return (both * per_class).sum()
