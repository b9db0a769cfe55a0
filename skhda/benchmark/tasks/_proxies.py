"""16 x 16 digit-image proxy tasks, shared by the families' settings protocols.

A proxy pairs two of MNIST test, USPS and scikit-learn's embedded digits
(resized to 16 x 16) so that defaults can be chosen on labels we may use:
CCN's BatchNorm proxies and TDCM's image proxies load their conditions here.
"""

from __future__ import annotations

import torch

from ...datasets import load_mnist, load_usps
from .._core import TransferData


def _digits16():
    """sklearn's embedded digits / 16, bilinearly resized to 16 x 16 (USPS's size and range)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.as_tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    X = torch.nn.functional.interpolate(X, size=(16, 16), mode="bilinear",
                                        align_corners=False).clamp(0, 1)
    return X.numpy(), d.target


def _load_proxy(data_dir, condition):
    """The condition ``"SRC -> TGT"`` over MNIST (test), USPS and digits, as (n, 1, 16, 16)."""
    domains = {"MNIST": lambda: load_mnist(data_dir, 16), "USPS": lambda: load_usps(data_dir),
               "digits": _digits16}
    src, tgt = condition.split(" -> ")
    (Xs, ys), (Xt, yt) = domains[src](), domains[tgt]()
    return TransferData(Xs.reshape(len(Xs), 1, 16, 16), ys, Xt.reshape(len(Xt), 1, 16, 16), yt)
