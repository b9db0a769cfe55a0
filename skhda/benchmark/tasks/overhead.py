"""Cost of skhda's skorch training core against a hand-written torch loop.

Same model, data, optimiser, batch order policy and number of steps: an MLP
64-256-256-2 on 20,000 x 64 rows, batch 256, Adam, 5 epochs. Rows:

- ``single``: one domain, cross-entropy (skhda core vs the hand-written loop,
  and plain skorch ``NeuralNetClassifier`` with its per-sample Dataset /
  DataLoader collation);
- ``two-domain``: a DANN step (source cross-entropy + domain discriminator
  behind gradient reversal on a source and a target batch of 256 each).

Each row warms up once, then times its runs interleaved ``repeats`` times
in one process; the metrics are medians (seconds) and the ratio of medians
core / hand loop (target: <= 1.15), with the best-of-repeats ratio. The
hand-written loops are benchmark reference code, not a training path of
the package. Timings measure the machine's load as much as the core: only
a quiet machine gives a ratio worth reporting.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from skorch import NeuralNetClassifier
from torch import nn

from ..._training import DomainDataset, make_net
from ...nn import GradientReversal, domain_adversarial_loss
from .._core import Method, Task, configure


class Overhead(BaseEstimator):
    """One timing configuration (``kind``: ``"single"`` or ``"two-domain"``).

    ``--set repeats=3`` (or ``n_rows``, ``epochs``) shrinks a run.
    """

    def __init__(self, kind="single", *, n_rows=20_000, n_features=64, batch_size=256,
                 epochs=5, repeats=9, random_state=0):
        self.kind = kind
        self.n_rows = n_rows
        self.n_features = n_features
        self.batch_size = batch_size
        self.epochs = epochs
        self.repeats = repeats
        self.random_state = random_state


def _mlp(d):
    return nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 2))


class _Classify(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.net = _mlp(d)

    def forward(self, batch):
        return {"ce": F.cross_entropy(self.net(batch.source.X), batch.source.y)}


class _Plain(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.net = _mlp(d)

    def forward(self, X):
        return self.net(X)


class _DANN(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256),
                                      nn.ReLU())
        self.head = nn.Linear(256, 2)
        self.grl = GradientReversal(1.0)
        self.disc = nn.Linear(256, 1)

    def losses(self, xs, ys, xt):
        zs, zt = self.features(xs), self.features(xt)
        ce = F.cross_entropy(self.head(zs), ys)
        dom = domain_adversarial_loss(self.disc(self.grl(zs)).squeeze(1),
                                      self.disc(self.grl(zt)).squeeze(1))
        return ce, dom

    def forward(self, batch):
        ce, dom = self.losses(batch.source.X, batch.source.y, batch.target.X)
        return {"ce": ce, "domain": dom}


def _data(cfg):
    rng = np.random.default_rng(cfg.random_state)
    X = rng.standard_normal((cfg.n_rows, cfg.n_features)).astype(np.float32)
    y = (X[:, :2].sum(1) > 0).astype(np.int64)
    Xt = (rng.standard_normal((cfg.n_rows, cfg.n_features)) + 0.5).astype(np.float32)
    return X, y, Xt


def _hand_loop(cfg, model, step_loss, n, n_perms=1):
    """The reference: a plain torch loop over shuffled index batches."""
    seed = cfg.random_state
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        perms = [torch.randperm(n, generator=g) for _ in range(n_perms)]
        for i in range(0, n, cfg.batch_size):
            opt.zero_grad()
            loss = step_loss(*(p[i:i + cfg.batch_size] for p in perms))
            loss.backward()
            opt.step()
            loss.item()


def _runs(cfg):
    """The timed callables of one configuration: ``{name: fn()}``."""
    X, y, Xt = _data(cfg)
    tX, ty, tXt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Xt)
    d, seed = cfg.n_features, cfg.random_state
    kw = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": 1e-3, "device": "cpu",
          "seed": seed}

    def hand_single():
        torch.manual_seed(seed)
        model = _mlp(d)

        def step(idx):
            return F.cross_entropy(model(tX[idx]), ty[idx])
        _hand_loop(cfg, model, step, len(X))

    def core_single():
        torch.manual_seed(seed)
        make_net(_Classify(d), **kw).fit(DomainDataset(source={"X": X, "y": y}))

    def plain_skorch():
        torch.manual_seed(seed)
        NeuralNetClassifier(_Plain, module__d=d, criterion=nn.CrossEntropyLoss,
                            optimizer=torch.optim.Adam, lr=1e-3, max_epochs=cfg.epochs,
                            batch_size=cfg.batch_size, train_split=None,
                            iterator_train__shuffle=True, verbose=0).fit(X, y)

    def hand_dann():
        torch.manual_seed(seed)
        model = _DANN(d)

        def step(si, ti):
            ce, dom = model.losses(tX[si], ty[si], tXt[ti])
            return ce + dom
        _hand_loop(cfg, model, step, len(X), n_perms=2)

    def core_dann():
        torch.manual_seed(seed)
        make_net(_DANN(d), **kw).fit(DomainDataset(source={"X": X, "y": y}, target={"X": Xt}))

    if cfg.kind == "single":
        return {"hand": hand_single, "core": core_single, "plain_skorch": plain_skorch}
    return {"hand": hand_dann, "core": core_dann}


def _evaluate(method, ctx, settings):
    """Warm up, time the runs interleaved ``repeats`` times; medians and ratios."""
    cfg = configure(method.make(ctx), settings)
    start = time.perf_counter()
    runs = _runs(cfg)
    for fn in runs.values():
        fn()
    times = {k: [] for k in runs}
    for _ in range(cfg.repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"hand_s": med["hand"], "core_s": med["core"], "ratio": med["core"] / med["hand"],
           "best_ratio": min(times["core"]) / min(times["hand"]),
           "threads": torch.get_num_threads()}
    if "plain_skorch" in med:
        out.update(plain_skorch_s=med["plain_skorch"],
                   plain_ratio=med["plain_skorch"] / med["hand"])
    return {**out, "fit_s": time.perf_counter() - start}


TASKS = [Task(
    name="training-overhead",
    title="skhda's training core vs a hand-written torch loop: MLP 64-256-256-2, "
          "20,000 x 64 rows, batch 256, Adam, 5 epochs",
    paper="none (the package's target: core / hand loop <= 1.15, ratio of medians)",
    setting="timing, synthetic data",
    files=(),
    cpu_time="about 2 min per seed (9 interleaved repeats of both rows, 2 threads)",
    load=lambda data_dir, condition: None,
    methods=(Method("single", lambda c: Overhead("single", random_state=c.seed)),
             Method("two-domain", lambda c: Overhead("two-domain", random_state=c.seed))),
    metrics=("hand_s", "core_s", "ratio", "best_ratio", "plain_ratio"),
    seeds=1,
    evaluate=_evaluate,
    notes="hand_s / core_s: median seconds of the hand-written loop / the skhda core; ratio: "
          "core / hand (medians); best_ratio: of the best runs; plain_ratio: plain skorch "
          "NeuralNetClassifier / hand (single domain). Timings reflect the machine's load.",
)]
