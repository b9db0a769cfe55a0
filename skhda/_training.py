"""The training core: a domain-aware in-memory batch iterator and the skorch net.

Every skhda training stage is a :class:`DomainNet` (a :class:`skorch.NeuralNet`)
fitted on a :class:`DomainDataset`. A method supplies only a ``torch.nn.Module``
whose ``forward(batch)`` returns a dict of named loss terms; the net weighs
them (``loss_weights``), back-propagates their sum and logs each term in the
skorch history. Batches are sliced from tensors that already live on the
training device, one index gather per domain and step, so the skorch layer adds
little over a hand-written loop (``python -m skhda benchmark training-overhead``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
from functools import partial
from types import SimpleNamespace

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring, PrintLog, ProgressBar
from torch import nn
from torch.utils.data import Dataset

__all__ = [
    "ClassBalancedBatchIterator",
    "DomainBatch",
    "DomainBatchIterator",
    "DomainDataset",
    "DomainNet",
    "DomainStatistics",
    "LinearSchedule",
    "PeriodicRefresh",
    "adapt_batchnorm",
    "batched_apply",
    "best_of",
]


class DomainDataset(Dataset):
    """Named groups of row-aligned tensors, e.g. ``source=(X, y)``, ``target=(X,)``.

    Each group (a *part*) is a dict of tensors sharing their first dimension.
    Parts may have different lengths and are batched independently by
    :class:`DomainBatchIterator`. Every part gets its row indices as
    ``index`` (``arange`` unless given), so that a batch can read per-row
    quantities stored elsewhere (pseudo-labels, a target distribution, a
    graph) by ``batch.<part>.index``.

    Parameters
    ----------
    **parts : dict of str to tensor-like
        ``name -> {"X": tensor, "y": tensor, ...}``.
    """

    def __init__(self, **parts):
        if not parts:
            raise ValueError("DomainDataset needs at least one part.")
        self.parts = {}
        self.default_index = set()   # parts whose index is arange: a batch's index is its rows
        for name, arrays in parts.items():
            arrays = {k: torch.as_tensor(v) for k, v in arrays.items()}
            lengths = {len(v) for v in arrays.values()}
            if len(lengths) != 1:
                raise ValueError(f"Part {name!r} has tensors of different lengths {lengths}.")
            if "index" not in arrays:
                arrays["index"] = torch.arange(lengths.pop())
                self.default_index.add(name)
            self.parts[name] = arrays

    def lengths(self):
        return {name: len(next(iter(a.values()))) for name, a in self.parts.items()}

    def to(self, device):
        """Move every tensor to ``device`` once (a no-op for tensors already there)."""
        moved = DomainDataset(
            **{n: {k: v.to(device) for k, v in a.items()} for n, a in self.parts.items()}
        )
        moved.default_index = set(self.default_index)
        return moved

    def __len__(self):
        return max(self.lengths().values())

    def __getitem__(self, i):  # pragma: no cover - batches are sliced, never indexed per row
        raise TypeError("DomainDataset is sliced by DomainBatchIterator, not indexed per row.")


class DomainBatch:
    """One training step's data: each part's rows, reachable as ``batch.<part>.<key>``."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts

    def __getattr__(self, name):
        try:
            return self.parts[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name):
        return name in self.parts

    def __len__(self):
        return sum(len(next(iter(vars(p).values()))) for p in self.parts.values())


class DomainBatchIterator:
    """Yield one batch of every part per step, cycling the shorter parts.

    An epoch ends when the part needing the most batches has been seen once
    (its last batch may be short); the other parts are cycled through fresh
    permutations, wrapping around so that each row is seen once per pass and
    every step pairs e.g. a full source batch with a full target batch. Rows are gathered
    from in-memory tensors with one index per part and step (no per-sample
    collation).

    No part ever yields a one-row batch (a BatchNorm layer in training mode
    cannot normalise one row): when a part's rows leave a last batch of one
    row (``n = batch_size * m + 1``, ``m >= 1``), that row joins the batch
    before it (``batch_size + 1`` rows), so the part needs ``m`` batches; a
    part of a single row gives that row twice per step (a mean loss is
    unchanged). Both rules are deterministic: the same ``n`` always gives
    the same batch sizes.

    Parameters
    ----------
    dataset : DomainDataset
    batch_size : int
        Rows per step for every part not named in ``batch_sizes``.
    batch_sizes : dict of str to int, optional
        Per-part batch sizes (e.g. ``{"target": 96}``). A part smaller than
        its batch size is given whole at every step.
    shuffle : bool, default=True
        Permute the rows of every pass. Without it, a part given whole at
        every step is passed as it is (no copy).
    steps_per_epoch : int, optional
        Overrides the epoch length.
    drop_last : bool, default=False
        Drop the last incomplete batch of the part that defines the epoch.
    seed : int, optional
        Seed of the permutations (a ``torch.Generator`` on the CPU).
    """

    def __init__(
        self,
        dataset,
        batch_size=256,
        batch_sizes=None,
        shuffle=True,
        steps_per_epoch=None,
        drop_last=False,
        seed=None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.batch_sizes = batch_sizes
        self.shuffle = shuffle
        self.steps_per_epoch = steps_per_epoch
        self.drop_last = drop_last
        self.generator = torch.Generator()
        self.generator.manual_seed(
            int(seed) if seed is not None else int(torch.randint(2**31 - 1, (1,)))
        )

    def _sizes(self):
        lengths = self.dataset.lengths()
        sizes = {n: (self.batch_sizes or {}).get(n, self.batch_size) for n in lengths}
        return lengths, {n: min(max(int(sizes[n]), 1), lengths[n]) for n in lengths}

    def _n_batches(self, n, size):
        """Batches of one pass over ``n`` rows: a one-row remainder joins the last batch."""
        if self.drop_last:
            return n // size
        return n // size if n % size == 1 and n > size else math.ceil(n / size)

    def __len__(self):
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        lengths, sizes = self._sizes()
        return max(1, max(self._n_batches(lengths[n], sizes[n]) for n in lengths))

    def _order(self, n, device):
        if self.shuffle:
            return torch.randperm(n, generator=self.generator).to(device)
        return torch.arange(n, device=device)

    def __iter__(self):
        lengths, sizes = self._sizes()
        parts = self.dataset.parts
        steps = len(self)
        # parts that need as many batches as the epoch has end it with a short
        # batch (never of one row: see the class docstring); the others are
        # cycled, wrapping around so that every row is seen once before any
        # row is seen again
        exact = {n for n in parts if self.steps_per_epoch is None
                 and self._n_batches(lengths[n], sizes[n]) == steps}
        devices = {n: next(iter(a.values())).device for n, a in parts.items()}
        orders = {n: self._order(lengths[n], devices[n]) for n in parts}
        cursors = dict.fromkeys(parts, 0)
        for step in range(steps):
            batch = {}
            for name, arrays in parts.items():
                start, size, n = cursors[name], sizes[name], lengths[name]
                if n > 1 and size == n and not self.shuffle:   # whole part, in order: no copy
                    batch[name] = SimpleNamespace(**arrays)
                    continue
                if n == 1:   # one row: given twice, so that a BatchNorm can train on it
                    idx = orders[name][[0, 0]]
                elif name in exact or start + size <= n:
                    if name in exact and step == steps - 1 and not self.drop_last:
                        size = n - start   # the last batch takes a one-row remainder
                    idx = orders[name][start:start + size]
                    cursors[name] = start + size
                else:
                    rest = orders[name][start:]
                    order = self._order(n, devices[name])
                    if len(rest):  # rows of this batch's first half go last in the new pass
                        seen = torch.zeros(n, dtype=torch.bool, device=order.device)
                        seen[rest] = True
                        order = torch.cat([order[~seen[order]], order[seen[order]]])
                    need = size - len(rest)
                    idx = torch.cat([rest, order[:need]])
                    orders[name], cursors[name] = order, need
                arange = name in self.dataset.default_index   # no gather for its index
                batch[name] = SimpleNamespace(**{k: idx if arange and k == "index" else v[idx]
                                                 for k, v in arrays.items()})
            yield DomainBatch(batch), None


class ClassBalancedBatchIterator(DomainBatchIterator):
    """A :class:`~skhda.DomainBatchIterator` whose ``balanced_part`` batches are class-balanced.

    Each step draws ``classes_per_batch`` classes at random and
    ``samples_per_class`` rows of each (without replacement inside a class
    when it has enough rows), so that a batch holds enough similar pairs
    for a pairwise loss. The other parts are batched as usual.

    Parameters
    ----------
    dataset : DomainDataset
    classes_per_batch : int, default=20
    samples_per_class : int, default=5
    balanced_part : str, default="source"
        The part (with a ``"y"`` tensor of class indices) to balance.
    **kwargs
        Passed to :class:`~skhda.DomainBatchIterator`.

    Examples
    --------
    >>> import torch
    >>> from skhda._training import ClassBalancedBatchIterator, DomainDataset
    >>> ds = DomainDataset(source={"X": torch.randn(60, 2), "y": torch.arange(60) % 6})
    >>> it = ClassBalancedBatchIterator(ds, classes_per_batch=3, samples_per_class=4,
    ...                                 steps_per_epoch=2, seed=0)
    >>> [torch.bincount(b.source.y).count_nonzero().item() for b, _ in it]
    [3, 3]
    """

    def __init__(self, dataset, classes_per_batch=20, samples_per_class=5,
                 balanced_part="source", **kwargs):
        super().__init__(dataset, **kwargs)
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.balanced_part = balanced_part

    def __iter__(self):
        arrays = self.dataset.parts[self.balanced_part]
        y = arrays["y"].cpu()
        order = torch.argsort(y, stable=True)
        counts = torch.bincount(y)
        present = torch.nonzero(counts).flatten()
        offsets = torch.cumsum(counts, 0) - counts
        k = min(int(self.classes_per_batch), len(present))
        m = int(self.samples_per_class)
        n_max = int(counts.max())
        for batch, _ in super().__iter__():
            classes = present[torch.randperm(len(present), generator=self.generator)[:k]]
            # a random permutation of each chosen class's rows: sort uniform keys, with
            # the padding positions (beyond the class size) pushed to the end
            keys = torch.rand(k, n_max, generator=self.generator)
            keys[torch.arange(n_max)[None, :] >= counts[classes][:, None]] = 2.0
            pos = torch.argsort(keys, dim=1)[:, :m] % counts[classes][:, None]
            idx = order[(offsets[classes][:, None] + pos).flatten()]
            idx = idx.to(next(iter(arrays.values())).device)
            batch.parts[self.balanced_part] = type(batch.parts[self.balanced_part])(
                **{key: v[idx] for key, v in arrays.items()})
            yield batch, None


class LinearSchedule(Callback):
    """Set a loss weight (or a module attribute) from training progress ``p`` in [0, 1].

    ``fn(p)`` gives the value; it is written to ``net.loss_weights[name]`` or,
    with ``attribute=``, to ``setattr(net.module_, attribute, value)``. Used for
    the DANN gradient-reversal coefficient and for temperature annealing.
    """

    def __init__(self, fn, name=None, attribute=None):
        self.fn = fn
        self.name = name
        self.attribute = attribute

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.name is not None and hasattr(net, "_check_loss_terms"):
            net._check_loss_terms([self.name], "LinearSchedule sets the weight of")
        self._step = 0
        self._total = max(1, len(net.get_iterator(X, training=True)) * net.max_epochs)
        self._apply(net)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self._apply(net)
            self._step += 1

    def _apply(self, net):
        self._write(net, self.fn(min(1.0, self._step / self._total)))

    def _owner(self, net):
        """``(object, name)`` of the module attribute the schedule sets."""
        obj = net.module_
        *path, last = self.attribute.split(".")
        for p in path:
            obj = getattr(obj, p)
        return obj, last

    def _write(self, net, value):
        if self.attribute is not None:
            setattr(*self._owner(net), value)
        if self.name is not None:
            net.loss_weights_[self.name] = value

    # a stage trained with it can be cached (``memory``): its effect is the value it set last
    def cache_state(self, net):
        """The value this schedule set last (stored with a cached stage)."""
        if self.attribute is not None:
            return getattr(*self._owner(net))
        return net.loss_weights_[self.name]

    def restore_cache_state(self, net, value):
        """Set ``value`` where the schedule writes (a stage restored from ``memory``)."""
        self._write(net, value)


class PeriodicRefresh(Callback):
    """Recompute a whole-domain quantity every ``every`` steps or epochs, and store it.

    For quantities a loss needs over *all* rows of a domain while batches
    see only some (DEC's target distribution, pseudo-labels, a kNN graph):
    ``compute(net)`` recomputes it (e.g. with :func:`batched_apply` over the
    domain's rows) and ``store(net, value)`` puts it where the module's
    ``forward`` reads it, usually a buffer indexed by ``batch.<part>.index``
    (every :class:`DomainDataset` part has the row indices).

    Parameters
    ----------
    compute : callable
        ``compute(net) -> value``.
    store : callable or str
        ``store(net, value)``, or the attribute path of a buffer of
        ``net.module_`` that is overwritten in place (``copy_``).
    every : int, default=1
        Refresh before step / epoch ``t`` (0-based, counted over the whole
        stage) when ``t % every == 0``.
    unit : {"step", "epoch"}, default="step"
    at_start : bool, default=True
        Also refresh before the first step / epoch (False when the value was
        initialised before training).
    release : callable, optional
        ``release(net)``, called when training ends (e.g. to drop a
        training-time quantity so that it is not pickled with the model).

    The callback is for one training run: when it ends, ``compute``,
    ``store`` and ``release`` are dropped, so the data they hold (e.g. a
    ``functools.partial`` over the domain's rows) is not kept or pickled
    with the fitted net.

    Examples
    --------
    >>> import torch
    >>> from skhda._training import PeriodicRefresh
    >>> seen = []
    >>> cb = PeriodicRefresh(lambda net: len(seen), lambda net, v: seen.append(v), every=2)
    >>> cb.on_train_begin(None)
    >>> for _ in range(5):
    ...     cb.on_batch_begin(None, training=True)
    >>> seen
    [0, 1, 2]
    """

    def __init__(self, compute, store, every=1, unit="step", at_start=True, release=None):
        if unit not in ("step", "epoch"):
            raise ValueError(f"unit must be 'step' or 'epoch', got {unit!r}.")
        self.compute = compute
        self.store = store
        self.every = every
        self.unit = unit
        self.at_start = at_start
        self.release = release

    def on_train_begin(self, net, **kwargs):
        self._step = 0

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if self.unit == "step" and training:
            self._maybe_refresh(net, self._step)
            self._step += 1

    def on_epoch_begin(self, net, **kwargs):
        if self.unit == "epoch":
            self._maybe_refresh(net, len(net.history) - 1)   # epochs done before this one

    def _maybe_refresh(self, net, t):
        if t % int(self.every) or (t == 0 and not self.at_start):
            return
        value = self.compute(net)
        if callable(self.store):
            self.store(net, value)
        else:
            obj = net.module_
            *path, last = self.store.split(".")
            for name in path:
                obj = getattr(obj, name)
            getattr(obj, last).copy_(torch.as_tensor(value))

    def on_train_end(self, net, **kwargs):
        if self.release is not None:
            self.release(net)
        self.compute = self.store = self.release = None


class _StageLog(Callback):
    """Print which stage is training (verbose only)."""

    def __init__(self, stage, owner):
        self.stage = stage
        self.owner = owner

    def on_train_begin(self, net, **kwargs):
        print(f"[{self.owner}] stage {self.stage!r}: {net.max_epochs} epochs", flush=True)


class _Interrupted(BaseException):
    """Carries a KeyboardInterrupt past skorch's ``except KeyboardInterrupt``."""


class _SigintWatch:
    """Record whether a SIGINT arrived (main thread only); Python's handling is unchanged."""

    def __enter__(self):
        self.seen, self._previous = False, None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):   # SIG_IGN / SIG_DFL / None: leave them alone
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.seen = True
        self._previous(signum, frame)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _raised_by_callback(exc):
    """Whether ``exc`` was raised inside a skorch callback's own code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and isinstance(tb.tb_frame.f_locals.get("self"), Callback)


class DomainNet(NeuralNet):
    """A skorch net whose module returns named loss terms for a :class:`DomainBatch`.

    ``module.forward(batch)`` returns a dict ``{term: scalar tensor}``; the
    training loss is ``sum(loss_weights.get(term, 1) * value)``. A module
    declares the terms it can return in a ``loss_terms`` class attribute
    (e.g. ``("ce", "cluster")``): the net then rejects a ``loss_weights``
    key that names none of them (a mistyped weight would otherwise be
    silently 1) and a returned term that is not declared. When there
    is more than one term, each term's (unweighted) mean over the epoch's
    batches is recorded in the history as ``train_<term>`` (one device
    synchronisation per epoch, not per batch).

    A non-finite training loss stops training at once with a
    ``FloatingPointError`` naming the owner, the stage, the epoch and the
    terms that overflowed; a ``KeyboardInterrupt`` (Ctrl-C) propagates
    (skorch's own ``fit`` would end the stage quietly and return).

    Parameters
    ----------
    module : torch.nn.Module
    loss_weights : dict, optional
        Weight of each loss term (default 1). Callbacks may change the
        fitted copy ``loss_weights_`` during training (e.g. warm-up).
    stage, owner : str, optional
        The stage's and the estimator's names, used in error messages.
    **kwargs
        Passed to :class:`skorch.NeuralNet` (``optimizer``, ``lr``,
        ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
        ``iterator_train__*`` ...).
    """

    def __init__(self, module, *args, loss_weights=None, criterion=torch.nn.Identity,
                 stage=None, owner=None, **kwargs):
        kwargs.setdefault("train_split", None)
        kwargs.setdefault("iterator_train", DomainBatchIterator)
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.loss_weights = loss_weights
        self.stage = stage
        self.owner = owner

    # the callbacks a user does not ask for only cost time per batch
    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("print_log", PrintLog()),
        ]

    def initialize(self):
        self.loss_weights_ = dict(self.loss_weights or {})
        self._term_sums = {}
        self._term_count = 0
        self._terms_checked = False
        super().initialize()
        self._check_loss_terms(self.loss_weights_, "loss_weights names")
        return self

    def _check_loss_terms(self, names, what):
        declared = getattr(self.module_, "loss_terms", None)
        if declared is None:
            return
        unknown = sorted(set(names) - set(declared))
        if unknown:
            raise ValueError(
                f"{what} {unknown}, which {type(self.module_).__name__} does not return; its "
                f"loss terms are {list(declared)}."
            )

    def set_params(self, **kwargs):
        super().set_params(**kwargs)
        if "loss_weights" in kwargs and getattr(self, "initialized_", False):
            self.loss_weights_ = dict(self.loss_weights or {})
        return self

    def _set_training(self, training=True):
        # skorch sets the mode on every step; walking the module tree each
        # time is a measurable share of a small step, so only do it on change
        if getattr(self, "_mode", None) is training and self.module_.training is training:
            return
        super()._set_training(training)
        self._mode = training

    def get_dataset(self, X, y=None):
        if not isinstance(X, DomainDataset):
            raise TypeError(f"DomainNet trains on a DomainDataset, got {type(X).__name__}.")
        return X.to(self.device)

    def infer(self, x, **fit_params):
        return self.module_(x, **fit_params)

    # skorch ends training quietly on any KeyboardInterrupt and returns as if
    # done, so a multi-stage fit would go on to its next stage. A callback
    # raising KeyboardInterrupt is skorch's way to stop a stage early
    # (EarlyStopping does it), and keeps that meaning; any other interrupt,
    # above all a real Ctrl-C (SIGINT, wherever it lands), propagates, after
    # the callbacks have been told that training ended
    def fit_loop(self, X, y=None, *args, **kwargs):
        try:
            return super().fit_loop(X, y, *args, **kwargs)
        except KeyboardInterrupt as exc:
            watch = getattr(self, "_sigint_watch", None)
            if (watch is not None and watch.seen) or not _raised_by_callback(exc):
                raise _Interrupted from exc
            raise   # a callback's early stop: skorch ends the stage

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        with _SigintWatch() as self._sigint_watch:
            try:
                return super().partial_fit(X, y, classes, **fit_params)
            except _Interrupted as exc:
                with contextlib.suppress(Exception):
                    self.notify("on_train_end", X=X, y=y)
                raise exc.__cause__.with_traceback(exc.__cause__.__traceback__) from None
            finally:
                del self._sigint_watch

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        if not self._terms_checked:   # once per fit: the module returns declared terms
            self._check_loss_terms(y_pred, "the module returned loss terms")
            self._terms_checked = True
        weights = self.loss_weights_
        loss = None
        log = training and len(y_pred) > 1
        for name, value in y_pred.items():
            w = weights.get(name, 1.0)
            term = value if w == 1.0 else w * value
            loss = term if loss is None else loss + term
            if log:
                prev = self._term_sums.get(name)
                d = value.detach()
                self._term_sums[name] = d if prev is None else prev + d
        self._term_count += log
        return loss

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self._term_sums = {}
        self._term_count = 0

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training:
            # skorch has already read the step's loss as a float (one sync per
            # step that it makes anyway): checking it costs no device time
            loss = self.history[-1]["batches"][-1].get("train_loss")
            if loss is not None and not math.isfinite(loss):
                self._raise_non_finite(loss)

    def _raise_non_finite(self, loss):
        owner, stage = getattr(self, "owner", None), getattr(self, "stage", None)
        where = f"{owner or 'skhda'}: the training loss"
        if stage is not None:
            where += f" of stage {stage!r}"
        epoch = len(self.history)
        terms = [name for name, total in self._term_sums.items()
                 if not bool(torch.isfinite(total))]
        which = f" (terms {', '.join(map(repr, terms))})" if terms else ""
        raise FloatingPointError(
            f"{where} became {loss}{which} in epoch {epoch}/{self.max_epochs}, step "
            f"{len(self.history[-1]['batches'])}. Training stopped: the weights are no longer "
            "usable. Try scaling the inputs (e.g. StandardScaler, or pixels to [0, 1]) or a "
            f"lower lr (now {self.lr})."
        )

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        if self._term_count:
            for name, total in self._term_sums.items():
                self.history.record(f"train_{name}", float(total) / self._term_count)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        self._term_sums = {}

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_term_sums", None)
        state.pop("_mode", None)
        state.pop("_sigint_watch", None)   # e.g. Checkpoint(f_pickle=...) during training
        return state

    def __setstate__(self, state):
        state.setdefault("_terms_checked", False)
        state.setdefault("_term_sums", {})
        state.setdefault("_term_count", 0)
        super().__setstate__(state)


def make_net(
    module,
    *,
    epochs,
    batch_size,
    lr,
    device,
    seed,
    verbose=0,
    callbacks=(),
    optimizer=torch.optim.Adam,
    loss_weights=None,
    batch_sizes=None,
    steps_per_epoch=None,
    stage=None,
    owner=None,
    **kwargs,
):
    """Build the :class:`DomainNet` of one training stage with skhda's conventions."""
    cbs = []
    if verbose:
        if stage is not None:
            cbs.append(("stage_log", _StageLog(stage, owner or "skhda")))
        cbs.append(("progress_bar", ProgressBar()))
    for i, cb in enumerate(callbacks):
        cbs.append(cb if isinstance(cb, tuple) else (f"{type(cb).__name__}_{i}", cb))
    return DomainNet(
        module,
        optimizer=optimizer,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        device=device,
        verbose=verbose,
        callbacks=cbs,
        loss_weights=loss_weights,
        stage=stage,
        owner=owner,
        iterator_train__seed=seed,
        iterator_train__batch_sizes=batch_sizes,
        iterator_train__steps_per_epoch=steps_per_epoch,
        **kwargs,
    )


def best_of(candidates, loss):
    """The candidate with the lowest ``loss(candidate)`` (the first on ties), and all losses.

    The restart rule of :class:`~sklearn.cluster.KMeans` (``n_init``), for
    fits restarted from several initialisations and for prediction-time
    restarts. ``candidates`` may be a generator, so that each candidate is
    built (trained) only when its turn comes and only the best is kept.

    Examples
    --------
    >>> best_of([3, 1, 2, 1], loss=lambda c: c * 10)
    (1, [30.0, 10.0, 20.0, 10.0])
    """
    best, best_loss, losses = None, None, []
    for candidate in candidates:
        value = float(loss(candidate))
        losses.append(value)
        if best_loss is None or value < best_loss:
            best, best_loss = candidate, value
    return best, losses


def graph_cut_rank(neighbors, n_clusters, predict, reduce="sum"):
    """A label-free ``loss`` for :func:`best_of`: how badly a model's partition cuts a graph.

    ``predict(candidate)`` gives the candidate's cluster of each row; the
    rank is the normalised cut of that partition on the rows' neighbour
    lists ``neighbors`` (e.g. :func:`skhda.nn.graph.knn_indices`;
    :func:`skhda.metrics.knn_normalized_cut`). Lower is better: the restart
    that least often separates a row from its neighbours, i.e. spectral
    clustering's objective used to choose, not to fit. ``reduce="mean"``:
    the mean share per non-empty cluster, for an ``n_clusters`` that may be
    an upper bound.

    Examples
    --------
    >>> import numpy as np
    >>> from skhda.nn.graph import knn_indices
    >>> X = np.vstack([np.eye(2)[[0] * 6], np.eye(2)[[1] * 6]]) + 0.01
    >>> rank = graph_cut_rank(knn_indices(X, 3), 2, predict=lambda labels: labels)
    >>> best_of([np.arange(12) % 2, np.repeat([0, 1], 6)], rank)[0].tolist()
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    """
    from .metrics import knn_normalized_cut

    return lambda candidate: knn_normalized_cut(neighbors, predict(candidate), n_clusters, reduce)


@torch.no_grad()
def batched_apply(fn, X, device, batch_size=1024, module=None):
    """Apply ``fn`` to row blocks of ``X`` on ``device`` and return a numpy array.

    ``module`` (if given) is put in eval mode for the call and restored after.
    The blocks are written into one preallocated array (memory: the result
    plus one block). NaN or infinite values in a float result, or in the
    output of any direct submodule of ``module`` (so that labels computed
    from a NaN embedding are not silently returned), raise a ``ValueError``.
    """
    was_training = module.training if module is not None else None
    hooks = []
    if module is not None:
        module.eval()
        hooks = [child.register_forward_hook(_check_finite_output)
                 for child in module.children()]
    try:
        X = torch.as_tensor(X)
        result = None
        for start in range(0, len(X), batch_size):
            block = fn(X[start:start + batch_size].to(device)).detach().cpu().numpy()
            if result is None:
                result = np.empty((len(X), *block.shape[1:]), dtype=block.dtype)
            result[start:start + len(block)] = block
        if result is None:
            return np.empty((0,))
        if result.dtype.kind == "f" and not np.isfinite(result).all():
            bad = int((~np.isfinite(result.reshape(len(result), -1))).any(1).sum())
            raise ValueError(
                f"X: the network gives NaN or infinite values for {bad} of {len(X)} rows "
                f"{_NON_FINITE_HINT}"
            )
        return result
    finally:
        for hook in hooks:
            hook.remove()
        if module is not None:
            module.train(was_training)


_NON_FINITE_HINT = "(inputs far beyond the scale of the fitted data?); scale X as in fit."


def _check_finite_output(module, inputs, output):
    if isinstance(output, torch.Tensor) and output.is_floating_point() \
            and not bool(torch.isfinite(output).all()):
        raise ValueError(
            f"X: the network's {type(module).__name__} gives NaN or infinite values "
            f"{_NON_FINITE_HINT}"
        )


def _batchnorms(*modules):
    """The BatchNorm layers (with running statistics) of ``modules``, in module order."""
    return [m for module in modules for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def _estimate_batchnorm(norms, forward, X, device, batch_size=100, seed=0):
    """Set the running statistics of ``norms`` to their exact averages over ``X``.

    ``X`` goes through ``forward`` in random batches of ``batch_size`` (a
    one-row remainder is skipped); the rest of the network should be in
    eval mode. The layers are left in eval mode with ``momentum=None``
    (a cumulative average).
    """
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    X = torch.as_tensor(X)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(X), batch_size):
        rows = X[order[start:start + batch_size]]
        if len(rows) > 1:
            forward(rows.to(device))
    for m in norms:
        m.eval()


@torch.no_grad()
def adapt_batchnorm(model, X, device, forward=None, batch_size=100, seed=0):
    """AdaBN: a copy of ``model`` whose BatchNorm statistics are re-estimated on ``X``.

    The statistics are the exact averages over random batches of ``X``
    passed through ``forward`` (a method of ``model``, by name of the copy:
    default ``model.__call__``). Used to adapt a network trained on one
    domain to another domain's feature statistics (Li et al., AdaBN).
    """
    name = getattr(forward, "__name__", "__call__")
    model = copy.deepcopy(model)
    forward = getattr(model, name) if name != "__call__" else model
    norms = _batchnorms(model)
    if not norms:
        return model
    model.eval()
    _estimate_batchnorm(norms, forward, X, device, batch_size, seed)
    model.eval()
    return model


class DomainStatistics(nn.Module):
    """Per-domain BatchNorm running statistics of a network, estimated after training.

    Holds, for each domain, the exact running statistics of the BatchNorm
    layers of ``modules`` on that domain's rows (AdaBN per domain, Li et
    al.; the statistics half of domain-specific BatchNorm, Chang et al.
    2019), and loads a domain's set into the layers before the network
    predicts that domain's rows. It must be a submodule of the network
    (its sets are buffers: they move with ``.to()``, are saved in the
    ``state_dict`` and copied with the network). In training mode, and for
    a domain not estimated yet, :meth:`use` does nothing, so training keeps
    BatchNorm's own statistics. Loading writes the layers' buffers: two
    threads predicting different domains with one network at once would
    race (processes, joblib's default, do not share it).

    Parameters
    ----------
    *modules : torch.nn.Module
        The parts of the network whose BatchNorm layers are covered (not
        registered here: they stay the network's own submodules).
    domains : tuple of str, default=("source", "target")
        The domains that get a set of statistics each.

    Attributes
    ----------
    estimated : torch.Tensor of bool, shape (len(domains),)
        Which domains' statistics :meth:`estimate` has set.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> net = nn.Sequential(body, DomainStatistics(body))   # a pass-through in forward
    >>> _ = net.eval()
    >>> net[1].estimate("target", net, torch.randn(50, 3) + 5.0, "cpu")
    >>> net[1].estimate("source", net, torch.randn(50, 3), "cpu")
    >>> net[1].use("target")
    >>> bool(net(torch.randn(20, 3) + 5.0).abs().mean() < 2)
    True
    """

    def __init__(self, *modules, domains=("source", "target")):
        super().__init__()
        self.__dict__["_norms"] = _batchnorms(*modules)   # not submodules of this one
        self.domains = tuple(domains)
        for d in self.domains:
            for i, m in enumerate(self._norms):
                self.register_buffer(f"{d}_mean_{i}", m.running_mean.detach().clone())
                self.register_buffer(f"{d}_var_{i}", m.running_var.detach().clone())
        self.register_buffer("estimated", torch.zeros(len(self.domains), dtype=torch.bool))

    def forward(self, x):   # a pass-through, so that it can sit in a Sequential
        return x

    def _index(self, domain):
        if domain not in self.domains:
            raise ValueError(f"domain must be one of {self.domains}; got {domain!r}.")
        return self.domains.index(domain)

    @torch.no_grad()
    def estimate(self, domain, forward, X, device, batch_size=100, seed=0):
        """Estimate ``domain``'s statistics on the rows ``X`` passed through ``forward``.

        Layers that ``forward`` does not reach (another domain's encoder)
        keep their statistics. With fewer than 2 rows nothing is estimated.

        Parameters
        ----------
        domain : str
            One of ``domains``.
        forward : callable
            Maps a batch of rows of ``X`` (on ``device``) through the network
            (in eval mode, so that only the covered layers update).
        X : array-like or torch.Tensor
            The domain's rows.
        device : str or torch.device
        batch_size : int, default=100
        seed : int, default=0
            Seed of the batches' random order.
        """
        k = self._index(domain)
        if len(X) < 2:
            return
        before = [(m.running_mean.clone(), m.running_var.clone(),
                   m.num_batches_tracked.clone(), m.momentum) for m in self._norms]
        _estimate_batchnorm(self._norms, forward, X, device, batch_size, seed)
        for i, (m, (mean, var, count, momentum)) in enumerate(
                zip(self._norms, before, strict=True)):
            if int(m.num_batches_tracked) == 0:   # not on this domain's path
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
            m.momentum = momentum
            getattr(self, f"{domain}_mean_{i}").copy_(m.running_mean)
            getattr(self, f"{domain}_var_{i}").copy_(m.running_var)
        self.estimated[k] = True

    def estimate_domains(self, forward, rows, device, seed=0):
        """:meth:`estimate` every domain of ``rows`` (after training; None rows are skipped).

        Parameters
        ----------
        forward : callable
            ``forward(x, domain=...)`` maps a batch of a domain's rows through
            the network (in eval mode).
        rows : dict of str to array-like or None
            Each domain's rows, in the order they are estimated.
        device : str or torch.device
        seed : int, default=0
            Seed of the batches' random order.
        """
        for domain, X in rows.items():
            if X is not None:
                self.estimate(domain, partial(forward, domain=domain), X, device, seed=seed)

    @torch.no_grad()
    def use(self, domain):
        """Load ``domain``'s statistics into the layers (in eval mode, once estimated).

        Parameters
        ----------
        domain : str
            One of ``domains``.
        """
        k = self._index(domain)
        if self.training or not bool(self.estimated[k]):
            return
        for i, m in enumerate(self._norms):
            m.running_mean.copy_(getattr(self, f"{domain}_mean_{i}"))
            m.running_var.copy_(getattr(self, f"{domain}_var_{i}"))
