"""CCN+ / CCN++ / DANN: which BatchNorm pass, and which statistics at predict (proxy tasks).

The sweep behind ``doc/benchmarks/ccn.md``'s "BatchNorm passes and statistics
(issue 16, sixth session)". Proxies whose labels we may use (never MNIST test,
the benchmark's target):

- ``mu``: MNIST test -> USPS (the adversarial term's proxy, ``ccn-mnist-usps-proxy``);
- ``du``: sklearn's digits (8 x 8, bilinearly resized to 16 x 16) -> USPS;
- ``ud``: USPS -> sklearn's digits 16 x 16.

Quick protocol of ``ccn-usps-mnist-quick``: 3000 source + 3000 target rows
drawn per seed (all 1797 digits), every target row scored; the registry's
rows (``skhda.benchmark.tasks.ccn._digit_rows(5, 10)``: seeded conv
backbones, 5 epochs, G 10 epochs; fit times include G's).

Variants of ``_TransferModel.forward`` (argument 1), patched over the code
**of commit ba4f727** (before the change; run it there, e.g. in a
``git worktree``): ``sep`` is that code (a pass per domain), ``joint`` one
pass over both domains' rows (the code before the DANN fix), ``stats`` a
pass per domain with per-domain running statistics (EMA). Every fit is
scored twice: with the BatchNorm running statistics (``acc``) and with
statistics re-estimated on the target training rows (``acc_adabn``, AdaBN).
Records: ``benchmarks/results/ccn-batchnorm-proxy.jsonl``. ``digits16`` / ``load``
mirror the registry's ``_digits16`` / ``_load_proxy`` (``skhda.benchmark.tasks._proxies``;
task ``ccn-digit-proxies-quick``, which runs the committed code), kept here because ba4f727
has neither.

Run (one core): ``OMP_NUM_THREADS=1 python benchmarks/ccn_batchnorm_proxy.py
joint du "CCN+,CCN++,DANN" 0,1``
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import types
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from skhda import ccn as C
from skhda.benchmark.tasks.ccn import _digit_rows
from skhda.datasets import load_mnist, load_usps

DATA = os.environ.get("SKHDA_DATA_DIR", "../shared/data")
OUT = "benchmarks/results/ccn-batchnorm-proxy.jsonl"


def digits16():
    """sklearn's digits / 16, bilinearly resized to 16 x 16 (USPS's size and range)."""
    d = load_digits()
    X = torch.as_tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    X = F.interpolate(X, size=(16, 16), mode="bilinear", align_corners=False).clamp(0, 1)
    return X.numpy(), d.target


def load(task):
    """``(Xs, ys, Xt, yt)`` of a proxy, images ``(n, 1, 16, 16)``."""
    domains = {"m": lambda: load_mnist(DATA, 16), "u": lambda: load_usps(DATA), "d": digits16}
    (Xs, ys), (Xt, yt) = domains[task[0]](), domains[task[1]]()
    return (Xs.reshape(len(Xs), 1, 16, 16).astype(np.float32), ys,
            Xt.reshape(len(Xt), 1, 16, 16).astype(np.float32), yt)


def _norms(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def joint_forward(self, batch):
    """One pass over both domains' rows (the code before the DANN fix)."""
    s, t = batch.source, batch.target
    z = self.encoder(torch.cat([s.X, t.X]), "source")
    logits = self.classifier(z)
    n_s = len(s.X)
    out = {"ce": F.cross_entropy(logits[:n_s], s.y)}
    if self.supervision is not None:
        out["cluster"] = self.loss(logits[n_s:], self.supervision(t.g))
    if self.discriminator is not None:
        h = self.classifier[:-1](z)
        out["adversarial"] = self.discriminator(h[:n_s], h[n_s:])
    return out


def stats_forward(self, batch):
    """A pass per domain, each with its own running statistics (swapped before its pass)."""
    if not hasattr(self, "_dstats"):
        self._dstats = {d: [(b.running_mean.clone(), b.running_var.clone())
                            for b in _norms(self)] for d in ("source", "target")}

    def use(d):
        for b, (m, v) in zip(_norms(self), self._dstats[d], strict=True):
            b.running_mean, b.running_var = m, v

    s, t = batch.source, batch.target
    use("source")
    hs = self.hidden(s.X, "source")
    use("target")
    ht = self.hidden(t.X, "target")
    head = self.classifier[-1]
    lt = head(ht)
    out = {"ce": F.cross_entropy(head(hs), s.y)}
    if self.supervision is not None:
        out["cluster"] = self.loss(lt, self.supervision(t.g))
    if self.discriminator is not None:
        out["adversarial"] = self.discriminator(hs, ht)
    return out


@torch.no_grad()
def adabn_predict(est, X_fit, X):
    """Classes of ``X`` after re-estimating BatchNorm statistics on ``X_fit`` (AdaBN)."""
    m = copy.deepcopy(est.net_.module_).eval()
    for b in _norms(m):
        b.reset_running_stats()
        b.momentum = None
        b.train()
    X_fit = torch.as_tensor(X_fit)
    order = torch.randperm(len(X_fit), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(X_fit), 100):
        rows = X_fit[order[i:i + 100]]
        if len(rows) > 1:
            m.logits(rows, "target")
    m.eval()
    out = [m.logits(torch.as_tensor(X[i:i + 500]), "target").argmax(1).numpy()
           for i in range(0, len(X), 500)]
    return est.classes_[np.concatenate(out)]


def main(argv):
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    fwd, task, methods, seeds = argv[0], argv[1], argv[2].split(","), argv[3].split(",")
    out = argv[4] if len(argv) > 4 else OUT
    if fwd == "joint":
        C._TransferModel.forward = joint_forward
    elif fwd == "stats":
        C._TransferModel.forward = stats_forward
    Xs, ys, Xt, yt = load(task)
    rows = {m.name: m for m in _digit_rows(5, 10)}
    for seed in map(int, seeds):
        rng = np.random.default_rng(seed)
        s, t = rng.permutation(len(Xs))[:3000], rng.permutation(len(Xt))[:3000]
        for name in methods:
            est = rows[name].make(types.SimpleNamespace(seed=seed, data=None, condition=""))
            t0 = time.perf_counter()
            est.fit(Xs[s], ys[s], Xt[t])
            dt = time.perf_counter() - t0
            acc = float((np.asarray(est.predict(Xt)) == yt).mean())
            acc_ada = float((adabn_predict(est, Xt[t], Xt) == yt).mean())
            rec = {"fwd": fwd, "task": task, "method": name, "seed": seed, "acc": acc,
                   "acc_adabn": acc_ada, "s": round(dt, 1)}
            print(json.dumps(rec), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
