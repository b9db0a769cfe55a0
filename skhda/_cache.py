"""Caching of training stages and other costly, deterministic steps (``memory``).

One place for what a ``memory`` parameter needs (the convention of
scikit-learn's ``Pipeline(memory=...)``): :func:`stage_key` names a training
stage by everything that determines its outcome, and :func:`cached` runs a
computation through a :class:`joblib.Memory` under such a key. A stage is
named by its module (layer classes, plain attributes, current weights), its
data, its training settings, the stage's seed, the device type and the
global torch random state it starts from, so a restored stage is the
trained one, and the random state it leaves is restored with it: a fit with
a cache hit returns what the fit without one returns.
"""

from __future__ import annotations

import numbers

import joblib
import numpy as np
import torch
from sklearn.utils.validation import check_memory
from torch import nn

__all__ = ["cached", "stage_key"]


def _plain(value):
    """A picklable, content-only stand-in for an attribute value (for hashing)."""
    if value is None or isinstance(value, (bool, numbers.Number, str, bytes)):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (tuple, list)):
        return type(value).__name__, [_plain(v) for v in value]
    if isinstance(value, dict):
        return "dict", sorted((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, torch.device):
        return "device", str(value)
    # functions, classes and other objects: by what they are, not where they live
    kind = value if isinstance(value, type) or callable(value) and hasattr(
        value, "__qualname__") else type(value)
    return "object", getattr(kind, "__module__", ""), getattr(kind, "__qualname__", repr(kind))


def module_fingerprint(module):
    """Layer classes, their plain attributes and the state (weights, buffers) of ``module``."""
    layers = []
    for name, layer in module.named_modules():
        attrs = {k: _plain(v) for k, v in vars(layer).items()
                 if not k.startswith("_") and not isinstance(v, nn.Module)}
        layers.append((name, type(layer).__module__, type(layer).__qualname__, attrs))
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return layers, state


def dataset_fingerprint(dataset):
    """The parts of a :class:`~skhda.DomainDataset`, in order, as arrays."""
    return [(name, sorted(dataset.default_index),
             [(k, v.detach().cpu().numpy()) for k, v in arrays.items()])
            for name, arrays in dataset.parts.items()]


def rng_states(device):
    """The global torch random state (and CUDA's on a CUDA ``device``)."""
    states = {"cpu": torch.get_rng_state()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return states


def set_rng_states(states, device):
    torch.set_rng_state(states["cpu"])
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], torch.device(device))


def stage_key(stage, module, dataset, device, **settings):
    """A hash of everything that determines a training stage's outcome.

    ``settings`` are the stage's other inputs (epochs, batch size, learning
    rate, seed, loss weights ...). The skhda and torch versions are part of
    the key; a changed training loop within one version is not, so clear a
    cache after changing the code (as for scikit-learn's ``memory``).
    """
    from . import __version__

    return joblib.hash({
        "versions": (__version__, torch.__version__),
        "stage": stage,
        "module": module_fingerprint(module),
        "data": dataset_fingerprint(dataset),
        "device": torch.device(device).type,
        "rng": {k: v.numpy() for k, v in rng_states(device).items()},
        "settings": {k: _plain(v) for k, v in sorted(settings.items())},
    })


def _compute(key, compute):
    """The cached function: its result is stored under ``key`` (``compute`` is not hashed)."""
    return compute()


def cached(memory, key, compute):
    """``compute()``, or its stored result for ``key`` from ``memory``.

    ``memory`` is anything :func:`sklearn.utils.validation.check_memory`
    takes (None: no caching, ``compute`` is called).
    """
    memory = check_memory(memory)
    if getattr(memory, "location", None) is None:
        return compute()
    return memory.cache(_compute, ignore=["compute"])(key, compute)
