"""Default encoders and decoders, and the per-domain wrappers.

Vectors get an MLP, images (``input_shape`` of length 3, ``(c, h, w)``) a
small conv net. When the source and target feature spaces differ, each
domain gets its own input encoder into one shared embedding space
(:class:`DomainEncoder`); everything after the embedding is shared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DOMAINS = ("source", "target")


def _mlp(sizes, batch_norm=False, last_activation=False, negative_slope=0.0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.LeakyReLU(negative_slope) if negative_slope else nn.ReLU())
    return layers


class MLPEncoder(nn.Sequential):
    """``Linear -> ReLU`` blocks ending in a linear embedding layer.

    Parameters
    ----------
    in_features : int
    out_features : int
        Embedding dimension.
    hidden_dims : sequence of int, default=(256, 128)
    batch_norm : bool, default=False
    negative_slope : float, default=0.0
        0: ReLU; otherwise LeakyReLU with this slope.
    """

    def __init__(self, in_features, out_features, hidden_dims=(256, 128), batch_norm=False,
                 negative_slope=0.0):
        super().__init__(*_mlp([in_features, *hidden_dims, out_features], batch_norm,
                               negative_slope=negative_slope))
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, x):
        return super().forward(x.flatten(1))


class Projector(nn.Sequential):
    """``Linear -> LeakyReLU`` blocks, the last one included, with an L2-normalised output.

    SSAN's per-domain projector into the common space (Li et al. 2020; the
    authors' code: two layers, LeakyReLU slope 0.2). Rows come out on the
    unit sphere, so a linear classifier on them compares directions.

    Parameters
    ----------
    in_features : int
    out_features : int
        Dimension of the common space.
    hidden_dims : sequence of int, default=(256,)
    negative_slope : float, default=0.2

    Examples
    --------
    >>> import torch
    >>> z = Projector(6, 4, hidden_dims=(5,))(torch.randn(3, 6))
    >>> z.shape, [round(v, 4) for v in z.norm(dim=1).tolist()]
    (torch.Size([3, 4]), [1.0, 1.0, 1.0])
    """

    def __init__(self, in_features, out_features, hidden_dims=(256,), negative_slope=0.2):
        super().__init__(*_mlp([in_features, *hidden_dims, out_features], last_activation=True,
                               negative_slope=negative_slope))
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, x):
        return F.normalize(super().forward(x.flatten(1)), dim=1)

    @torch.no_grad()
    def restrict_inputs(self, basis):
        """Let the first layer act on coordinates in ``basis`` (``(in_features, r)``).

        The first weight ``W`` becomes ``W @ basis``: on rows ``x`` inside the
        span of the basis' orthonormal columns, ``projector(x)`` equals the
        restricted projector applied to ``x @ basis``.
        """
        first = self[0]
        basis = torch.as_tensor(basis, dtype=first.weight.dtype, device=first.weight.device)
        first.weight = nn.Parameter(first.weight @ basis)   # no new draw from torch's RNG
        first.in_features = self.in_features = basis.shape[1]
        return self


class MLPDecoder(nn.Module):
    """Mirror of :class:`MLPEncoder`, back to ``output_shape``."""

    def __init__(self, in_features, output_shape, hidden_dims=(128, 256), batch_norm=False):
        super().__init__()
        self.output_shape = tuple(output_shape)
        out = math.prod(self.output_shape)
        self.net = nn.Sequential(*_mlp([in_features, *hidden_dims, out], batch_norm))

    def forward(self, z):
        return self.net(z).view(len(z), *self.output_shape)


def _conv_sizes(h, w, n_blocks):
    sizes = [(h, w)]
    for _ in range(n_blocks):
        h, w = max(h // 2, 1), max(w // 2, 1)
        sizes.append((h, w))
    return sizes


#: CPU conv nets run on channels-last (NHWC) tensors, measured faster there
CPU_CHANNELS_LAST = True


def _cpu_channels_last(x):
    """``x`` in channels-last memory format on the CPU (faster oneDNN convolutions), else as is.

    Same values, another memory layout: a 4-d CPU tensor is made NHWC-contiguous.
    """
    if CPU_CHANNELS_LAST and x.dim() == 4 and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


class ConvEncoder(nn.Module):
    """Conv(3x3) -> BN -> ReLU -> MaxPool(2) blocks, then a linear embedding.

    Parameters
    ----------
    input_shape : tuple (c, h, w)
    out_features : int
    channels : sequence of int, default=(32, 64)
        One block per entry (fewer when the image is too small to halve).
    """

    def __init__(self, input_shape, out_features, channels=(32, 64)):
        super().__init__()
        c, h, w = input_shape
        n_blocks = max(1, min(len(channels), int(math.log2(max(min(h, w), 2)))))
        channels = tuple(channels)[:n_blocks]
        layers, prev = [], c
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=False)]
            prev = ch
        self.features = nn.Sequential(*layers)
        fh, fw = _conv_sizes(h, w, n_blocks)[-1]
        self.feature_shape = (prev, fh, fw)
        self.fc = nn.Linear(prev * fh * fw, out_features)
        self.input_shape = tuple(input_shape)
        self.channels = channels
        self.out_features = out_features

    def forward(self, x):
        return self.fc(self.features(_cpu_channels_last(x)).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: linear, then upsample + conv blocks."""

    def __init__(self, in_features, output_shape, channels=(32, 64)):
        super().__init__()
        c, h, w = output_shape
        n_blocks = max(1, min(len(channels), int(math.log2(max(min(h, w), 2)))))
        channels = tuple(channels)[:n_blocks]
        sizes = _conv_sizes(h, w, n_blocks)
        self.start_shape = (channels[-1], *sizes[-1])
        self.fc = nn.Linear(in_features, math.prod(self.start_shape))
        layers, prev = [], channels[-1]
        for i, ch in enumerate(reversed((c, *channels[:-1]))):
            last = i == n_blocks - 1
            layers += [nn.Upsample(size=sizes[n_blocks - 1 - i]), nn.Conv2d(prev, ch, 3, padding=1)]
            if not last:
                layers += [nn.BatchNorm2d(ch), nn.ReLU()]
            prev = ch
        self.net = nn.Sequential(*layers)
        self.output_shape = tuple(output_shape)

    def forward(self, z):
        return self.net(_cpu_channels_last(torch.relu(self.fc(z)).view(len(z),
                                                                      *self.start_shape)))


def make_encoder(input_shape, embedding_dim, hidden_dims=(256, 128), channels=(32, 64),
                 negative_slope=0.0):
    """The default encoder for one domain: conv net for ``(c, h, w)``, MLP otherwise.

    ``negative_slope`` > 0 makes the MLP's activations LeakyReLU.
    """
    if len(input_shape) == 3:
        return ConvEncoder(input_shape, embedding_dim, channels)
    return MLPEncoder(math.prod(input_shape), embedding_dim, hidden_dims,
                      negative_slope=negative_slope)


def make_decoder(input_shape, embedding_dim, hidden_dims=(256, 128), channels=(32, 64)):
    """The decoder mirroring :func:`make_encoder`."""
    if len(input_shape) == 3:
        return ConvDecoder(embedding_dim, input_shape, channels)
    return MLPDecoder(embedding_dim, input_shape, tuple(reversed(hidden_dims)))


class _PerDomain(nn.Module):
    """One module per domain, or one module shared by both."""

    def __init__(self, modules):
        super().__init__()
        if isinstance(modules, nn.Module):
            modules = dict.fromkeys(DOMAINS, modules)
        unknown = set(modules) - set(DOMAINS)
        if unknown:
            raise ValueError(f"Unknown domains {sorted(unknown)}; expected {DOMAINS}.")
        self.shared = modules["source"] is modules["target"]
        self.domains = nn.ModuleDict(
            {"shared": modules["source"]} if self.shared else dict(modules)
        )

    def __getitem__(self, domain):
        return self.domains["shared" if self.shared else domain]

    def forward(self, x, domain="target"):
        return self[domain](x)


class DomainEncoder(_PerDomain):
    """Map each domain's inputs into one shared embedding space.

    Parameters
    ----------
    modules : torch.nn.Module or dict
        One encoder for both domains, or ``{"source": enc_s, "target": enc_t}``
        (heterogeneous features) whose outputs have the same dimension.

    Examples
    --------
    >>> import torch
    >>> enc = DomainEncoder({"source": MLPEncoder(64, 8), "target": MLPEncoder(16, 8)})
    >>> enc(torch.zeros(3, 16), "target").shape
    torch.Size([3, 8])
    """


class DomainDecoder(_PerDomain):
    """Reconstruct each domain's inputs from the shared embedding."""
