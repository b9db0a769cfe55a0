"""Loss functions shared by methods, each with one job and a hand-checked test."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(x_hat, x):
    """Squared error summed over each sample's features, averaged over the batch.

    The per-sample *sum* (the CKM paper's equation 1), not a per-feature mean:
    with a mean, the reconstruction term is so small next to a clustering
    term that the latter can collapse the embedding.

    Examples
    --------
    >>> import torch
    >>> reconstruction_loss(torch.zeros(2, 3), torch.ones(2, 3))
    tensor(3.)
    """
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def domain_adversarial_loss(logits_source, logits_target):
    """Binary cross-entropy of a one-logit domain discriminator (source = 1, target = 0).

    Uses the logit directly (``BCEWithLogits``): a softmax over a single
    logit is constant and would never train the discriminator.
    """
    ones = torch.ones_like(logits_source)
    zeros = torch.zeros_like(logits_target)
    return 0.5 * (
        F.binary_cross_entropy_with_logits(logits_source, ones)
        + F.binary_cross_entropy_with_logits(logits_target, zeros)
    )


def domain_confusion_loss(logits):
    """Binary cross-entropy of a one-logit domain discriminator against the label 1/2.

    The features' side of the domain-confusion game (Tzeng et al., 2015):
    minimal (``log 2``) where the discriminator cannot tell the domains apart
    (logit 0), and bounded below, unlike the reversed discriminator loss,
    which grows without bound as the features make the discriminator
    confidently wrong. Averaged over the rows.

    Examples
    --------
    >>> import torch
    >>> round(domain_confusion_loss(torch.zeros(3)).item(), 4)   # log 2
    0.6931
    """
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))


def nt_xent_loss(z1, z2, temperature=0.5):
    """SimCLR's contrastive loss (NT-Xent) of two views of the same rows.

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are a positive pair; the
    other ``2B - 2`` rows of the two batches are its negatives. Rows are
    L2-normalised, similarities divided by ``temperature``, and the loss is
    the cross-entropy of picking the positive, averaged over the ``2B`` rows
    (Chen et al., 2020).

    Examples
    --------
    >>> import torch
    >>> z = torch.eye(2)
    >>> round(nt_xent_loss(z, z, temperature=1.0).item(), 4)   # -log(e / (e + 2))
    0.5514
    """
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_pairs, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positives)
