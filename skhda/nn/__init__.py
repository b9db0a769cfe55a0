"""Torch building blocks shared by every skhda method.

- :mod:`skhda.nn.encoders`: default encoders/decoders (MLP for vectors, a
  small conv net for images) and :class:`DomainEncoder`, which gives each
  domain its own input encoder when the feature spaces differ.
- :mod:`skhda.nn.layers`: gradient reversal and the domain discriminator with
  the DANN schedule, pair enumeration, random affine augmentation of images.
- :mod:`skhda.nn.losses`: small loss functions, one job each.
- :mod:`skhda.nn.alignment`: class centroids, soft labels, prototype
  pseudo-labels and the centroid alignment loss (SSAN).
"""

from .alignment import (
    class_sums,
    prototype_pseudo_labels,
    semantic_alignment_loss,
    soft_label_loss,
    source_soft_labels,
)
from .encoders import (
    ConvDecoder,
    ConvEncoder,
    DomainDecoder,
    DomainEncoder,
    MLPDecoder,
    MLPEncoder,
    Projector,
    make_decoder,
    make_encoder,
)
from .layers import (
    DomainDiscriminator,
    GradientReversal,
    RandomAffine,
    TwoViewContrast,
    dann_coefficient,
    enumerate_pairs,
    grad_reverse,
)
from .losses import (
    domain_adversarial_loss,
    domain_confusion_loss,
    nt_xent_loss,
    reconstruction_loss,
)

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "DomainDecoder",
    "DomainDiscriminator",
    "DomainEncoder",
    "GradientReversal",
    "MLPDecoder",
    "MLPEncoder",
    "Projector",
    "RandomAffine",
    "TwoViewContrast",
    "class_sums",
    "dann_coefficient",
    "domain_adversarial_loss",
    "domain_confusion_loss",
    "enumerate_pairs",
    "grad_reverse",
    "make_decoder",
    "make_encoder",
    "nt_xent_loss",
    "prototype_pseudo_labels",
    "reconstruction_loss",
    "semantic_alignment_loss",
    "soft_label_loss",
    "source_soft_labels",
]
