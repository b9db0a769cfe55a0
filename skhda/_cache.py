"""Caching of training stages and other costly, deterministic steps (``memory``).

One place for what a ``memory`` parameter needs (the convention of
scikit-learn's ``Pipeline(memory=...)``): :func:`stage_key` names a training
stage by everything that determines its outcome, :func:`cached` runs a
computation through a :class:`joblib.Memory` under such a key, and
:func:`cached_call` does both for a plain function of arrays (a t-SNE map).
A stage is named by its module (layer classes, every attribute, weights and
buffers), its data, its training settings, the stage's seed, the device type,
the numeric settings of torch and the global torch random state it starts
from, so a restored stage is the trained one, and the random state it leaves
is restored with it: a fit with a cache hit returns what the fit without one
returns. What cannot be named (a closure in a user's module, a device whose
random state is not saved) is not cached: :func:`stage_key` returns None.
"""

from __future__ import annotations

import numbers

import joblib
import numpy as np
import torch
from sklearn.utils.validation import check_memory
from torch import nn

__all__ = ["cacheable_seed", "cached", "cached_call", "stage_key"]

#: the layout of a stored stage (a changed layout must never be read as the old one)
_FORMAT = 2
#: device types whose random state :func:`rng_states` saves and restores
_CACHED_DEVICES = ("cpu", "cuda")
#: attributes every nn.Module has (hooks, flags): the rest are the layer's own
_MODULE_INTERNALS = frozenset(vars(nn.Module())) - {"training"}


class _Unnamed(Exception):
    """Something a key cannot describe by its content."""


def _plain(value):
    """A content-only, deterministically picklable stand-in for ``value`` (for hashing)."""
    if value is None or isinstance(value, (bool, numbers.Number, str, bytes)):
        return value
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        return "tensor", str(t.dtype), (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (tuple, list)):
        return type(value).__name__, [_plain(v) for v in value]
    if isinstance(value, dict):
        return "dict", sorted((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, torch.device):
        return "device", str(value)
    if isinstance(value, torch.dtype):
        return "dtype", str(value)
    qualname = getattr(value, "__qualname__", "")
    named = "<" not in qualname   # not a lambda, nor defined inside a function
    if isinstance(value, type) or (named and getattr(value, "__closure__", 0) is None):
        # classes and module-level functions: by name (their code is the installed version's)
        return "object", getattr(value, "__module__", ""), qualname
    try:   # partials, user objects: by their pickled state (closures and lambdas fail here)
        return "pickled", joblib.hash(value)
    except Exception as exc:
        raise _Unnamed(type(value).__qualname__) from exc


def versions():
    """The versions of the libraries a cached result depends on."""
    import sklearn
    import skorch

    from . import __version__

    return {"skhda": __version__, "torch": torch.__version__, "skorch": skorch.__version__,
            "sklearn": sklearn.__version__, "numpy": np.__version__, "format": _FORMAT}


def module_fingerprint(module):
    """Every layer's class and own attributes, and every parameter and buffer of ``module``."""
    layers = []
    for name, layer in module.named_modules():
        attrs = {k: _plain(v) for k, v in vars(layer).items()
                 if k not in _MODULE_INTERNALS and not isinstance(v, nn.Module)}
        layers.append((name, type(layer).__module__, type(layer).__qualname__, attrs))
    tensors = [(k, _plain(v)) for k, v in (*module.named_parameters(),
                                            *module.named_buffers())]
    return layers, tensors


def dataset_fingerprint(dataset):
    """The parts of a :class:`~skhda.DomainDataset`, in order, as arrays."""
    return [(name, sorted(dataset.default_index),
             [(k, _plain(v)) for k, v in arrays.items()])
            for name, arrays in dataset.parts.items()]


def _numerics(device):
    """torch's settings that change a stage's floats (threads, determinism, TF32)."""
    out = {"threads": torch.get_num_threads(),
           "deterministic": torch.are_deterministic_algorithms_enabled(),
           "matmul": torch.get_float32_matmul_precision()}
    if torch.device(device).type == "cuda":
        out.update(cuda_tf32=torch.backends.cuda.matmul.allow_tf32,
                   cudnn_tf32=torch.backends.cudnn.allow_tf32,
                   cudnn_deterministic=torch.backends.cudnn.deterministic,
                   cudnn_benchmark=torch.backends.cudnn.benchmark)
    return out


def rng_states(device):
    """The global torch random state (and CUDA's on a CUDA ``device``)."""
    states = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return states


def set_rng_states(states, device):
    torch.set_rng_state(states["cpu"])
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], torch.device(device))


def cacheable_seed(random_state):
    """Whether a fit seeded by ``random_state`` repeats: only an int does (None is fresh)."""
    return isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)


def stage_key(stage, module, dataset, device, **settings):
    """A hash of everything that determines a training stage's outcome, or None.

    ``settings`` are the stage's other inputs (epochs, batch size, learning
    rate, seed, loss weights ...). None when the stage cannot be named by
    its content (e.g. a user module holding a closure) or runs on a device
    whose random state is not saved (only CPU and CUDA are). The library
    versions are part of the key; a changed training loop or user class
    within one version is not, so clear a cache after changing the code (as
    for scikit-learn's ``memory``).
    """
    if torch.device(device).type not in _CACHED_DEVICES:
        return None
    try:
        content = {
            "stage": stage,
            "module": module_fingerprint(module),
            "data": dataset_fingerprint(dataset),
            "device": torch.device(device).type,
            "numerics": _numerics(device),
            "rng": {k: v.numpy() for k, v in rng_states(device).items()},
            "settings": {k: _plain(v) for k, v in sorted(settings.items())},
        }
    except _Unnamed:
        return None
    return _key(content)


def _key(content):
    """The hash of ``content`` with the library versions (every key holds them)."""
    return joblib.hash({"versions": versions(), **content})


def _compute(key, compute):
    """The cached function: its result is stored under ``key`` (``compute`` is not hashed)."""
    return compute()


def cached(memory, key, compute):
    """``compute()``, or its stored result for ``key`` from ``memory``.

    ``memory`` is anything :func:`sklearn.utils.validation.check_memory`
    takes (None: no caching, ``compute`` is called); ``key`` None: not cached.
    """
    if memory is None or key is None:
        return compute()
    return check_memory(memory).cache(_compute, ignore=["compute"])(key, compute)


def cached_call(memory, func, *args, **kwargs):
    """``func(*args, **kwargs)`` through ``memory``, keyed by the arguments' content.

    For deterministic functions of arrays and plain values (e.g. a seeded
    t-SNE map); the key also holds ``func``'s name and the library versions.
    """
    if memory is None:
        return func(*args, **kwargs)
    key = _key({"func": (func.__module__, func.__qualname__),
                "args": [_plain(a) for a in args],
                "kwargs": {k: _plain(v) for k, v in sorted(kwargs.items())},
                "threads": torch.get_num_threads()})
    return cached(memory, key, lambda: func(*args, **kwargs))
