"""Layers shared by methods: gradient reversal and the domain discriminator (DANN), pair
enumeration, augmentation."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .losses import domain_adversarial_loss, domain_confusion_loss, nt_xent_loss


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def grad_reverse(x, coeff=1.0):
    """Identity forward, gradient multiplied by ``-coeff`` backward (Ganin & Lempitsky)."""
    return _GradReverse.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Gradient reversal layer; ``coeff`` is set during training by a schedule.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(2, requires_grad=True)
    >>> GradientReversal(coeff=0.5)(x).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000])
    """

    def __init__(self, coeff=1.0):
        super().__init__()
        self.coeff = coeff

    def forward(self, x):
        return grad_reverse(x, self.coeff)


def dann_coefficient(progress, gamma=10.0):
    """DANN schedule ``2 / (1 + exp(-gamma p)) - 1`` for progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DomainDiscriminator(nn.Module):
    """The DANN branch as one module: a domain classifier, its loss and the features' loss.

    ``forward(z_source, z_target)`` returns the binary cross-entropy of the
    classifier telling the two domains' features apart
    (:func:`~skhda.nn.domain_adversarial_loss`, which trains the
    classifier) plus the features' side of the game, weighted by
    ``grl.coeff``, which :meth:`schedule` raises from 0 to 1 over training
    with the DANN schedule (:func:`dann_coefficient`). Both domains go
    through the classifier in one pass.

    The features' side (``feature_loss``):

    - ``"reversal"`` (Ganin & Lempitsky): the gradient of the classifier's
      loss, reversed and scaled by ``grl.coeff`` (a gradient reversal layer).
      The features then maximise an unbounded loss: they can overshoot and
      make the classifier confidently wrong, which with Adam derailed
      training on digits (``doc/benchmarks/ccn.md``).
    - ``"confusion"`` (the domain confusion of Tzeng et al., 2015): the
      features minimise :func:`~skhda.nn.domain_confusion_loss` of the
      classifier's logits (its weights held fixed for this term), whose
      minimum is where the classifier cannot tell the domains apart; the
      classifier learns on detached features.

    Parameters
    ----------
    in_features : int
        Width of the features to align.
    hidden_dims : sequence of int, default=(256,)
        Hidden layers of the classifier (``()``: a single linear layer).
    coeff : float, default=0.0
        Initial weight of the features' loss (the gradient-reversal
        coefficient).
    feature_loss : {"reversal", "confusion"}, default="reversal"
        The features' side of the game (above).

    Examples
    --------
    >>> import torch
    >>> disc = DomainDiscriminator(4, hidden_dims=(8,))
    >>> zs = torch.randn(5, 4, requires_grad=True)
    >>> loss = disc(zs, torch.randn(3, 4))
    >>> loss.ndim, disc.schedule("discriminator").attribute
    (0, 'discriminator.grl.coeff')
    """

    FEATURE_LOSSES = ("reversal", "confusion")

    def __init__(self, in_features, hidden_dims=(256,), coeff=0.0, feature_loss="reversal"):
        super().__init__()
        if feature_loss not in self.FEATURE_LOSSES:
            raise ValueError(f"feature_loss must be one of {self.FEATURE_LOSSES}, "
                             f"got {feature_loss!r}.")
        self.feature_loss = feature_loss
        self.grl = GradientReversal(coeff)
        sizes = [int(in_features), *(int(h) for h in hidden_dims)]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.classifier = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, z_source, z_target):
        n = len(z_source)
        z = torch.cat([z_source, z_target])
        if self.feature_loss == "reversal":
            d = self.classifier(self.grl(z)).squeeze(1)
            return domain_adversarial_loss(d[:n], d[n:])
        d = self.classifier(z.detach()).squeeze(1)   # the classifier learns the domains
        fixed = {k: p.detach() for k, p in self.classifier.named_parameters()}
        d_features = torch.func.functional_call(self.classifier, fixed, (z,)).squeeze(1)
        return (domain_adversarial_loss(d[:n], d[n:])
                + self.grl.coeff * domain_confusion_loss(d_features))

    @staticmethod
    def schedule(path, gamma=10.0):
        """The callback that sets ``<path>.grl.coeff`` by the DANN schedule during training.

        ``path`` is the discriminator's attribute path inside the net's module.
        """
        from .._training import LinearSchedule

        return LinearSchedule(functools.partial(dann_coefficient, gamma=float(gamma)),
                              attribute=f"{path}.grl.coeff")


def enumerate_pairs(z):
    """All ``B * B`` ordered pairs of a batch, self-pairs included, by broadcasting.

    Returns a ``(B * B, 2 d)`` tensor whose row ``i * B + j`` is
    ``[z_i, z_j]``.

    Examples
    --------
    >>> import torch
    >>> enumerate_pairs(torch.tensor([[1.0], [2.0]])).tolist()
    [[1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]
    """
    b, d = z.shape
    left = z.unsqueeze(1).expand(b, b, d)
    right = z.unsqueeze(0).expand(b, b, d)
    return torch.cat([left, right], dim=2).reshape(b * b, 2 * d)


class RandomAffine(nn.Module):
    """Random affine jitter of image batches in training mode (identity otherwise).

    This is the one meaning of every skhda estimator's ``augment``: strength
    ``a`` jitters each image by a rotation up to ``+-20 a`` degrees, a scale
    ``1 +- 0.2 a`` and a shift up to ``+-15 a`` % of the side (one
    ``affine_grid`` + ``grid_sample`` per batch); with ``brightness`` ``b``
    every image is also multiplied by a factor in ``1 +- b a`` (the
    contrastive views use ``b = 0.5``). The per-unit ranges are parameters
    for other uses. Vectors (2-D inputs) pass through. Drawn with torch's
    random generator, so fits stay reproducible.

    Examples
    --------
    >>> import torch
    >>> aug = RandomAffine(1.0).eval()
    >>> x = torch.rand(2, 1, 8, 8)
    >>> torch.equal(aug(x), x)
    True
    """

    def __init__(self, strength=1.0, rotation=20.0, scale=0.2, shift=0.15, brightness=0.0):
        super().__init__()
        self.strength = float(strength)
        self.rotation = float(rotation)
        self.scale = float(scale)
        self.shift = float(shift)
        self.brightness = float(brightness)

    def forward(self, x):
        if not self.training or self.strength == 0 or x.ndim != 4:
            return x
        s = self.strength
        rand = torch.rand(len(x), 4, device=x.device) * 2 - 1
        angle = rand[:, 0] * s * math.radians(self.rotation)
        scale = 1 + rand[:, 1] * s * self.scale
        shift = rand[:, 2:] * s * 2 * self.shift   # affine_grid spans [-1, 1]: 2 = one side
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                             torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, align_corners=False)
        if self.brightness:
            x = x * (1 + (torch.rand(len(x), 1, 1, 1, device=x.device) * 2 - 1)
                     * s * self.brightness)
        return x


class TwoViewContrast(nn.Module):
    """SimCLR-style contrastive term: NT-Xent between two random views of a batch.

    ``forward(encode, x)`` draws two views of the images ``x`` (affine
    jitter and brightness, :class:`RandomAffine` with ``strength``), encodes
    both with ``encode``, projects them (BN -> ReLU -> linear head) and
    returns ``(loss, z1)``: the NT-Xent loss and the first view's encoding,
    for the caller's own loss.

    Examples
    --------
    >>> import torch
    >>> contrast = TwoViewContrast(4)
    >>> encode = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    >>> loss, z1 = contrast(encode, torch.rand(8, 1, 4, 4))
    >>> z1.shape, loss.ndim
    (torch.Size([8, 4]), 0)
    """

    def __init__(self, embedding_dim, strength=0.5, projection_dim=64, temperature=0.5):
        super().__init__()
        self.views = RandomAffine(strength, brightness=0.5)
        self.projection = nn.Sequential(nn.BatchNorm1d(embedding_dim), nn.ReLU(),
                                        nn.Linear(embedding_dim, projection_dim))
        self.temperature = float(temperature)

    @staticmethod
    def check_images(shape, params):
        """Raise a ``ValueError`` naming ``params`` unless one row's ``shape`` is an image."""
        if len(shape) != 3:
            verb = "need" if " and " in params else "needs"
            raise ValueError(
                f"{params} {verb} image inputs (the contrastive views are random affine "
                f"jitter of images), got rows of shape {tuple(shape)}; set it to 0 for vectors."
            )

    def forward(self, encode, x):
        loss, z1, _ = self.both_views(encode, x)
        return loss, z1

    def both_views(self, encode, x):
        """``(loss, z1, z2)``: the NT-Xent loss and the encodings of both views."""
        z1, z2 = encode(self.views(x)), encode(self.views(x))
        return nt_xent_loss(self.projection(z1), self.projection(z2), self.temperature), z1, z2
