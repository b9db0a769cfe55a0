"""Cost of skhda's skorch training core against a hand-written torch loop.

Same model, data, optimiser, batch order policy and number of steps:
an MLP 64-256-256-2 on 20,000 x 64 rows, batch 256, Adam, 5 epochs.

- ``single``: one domain, cross-entropy (skhda core vs hand loop vs plain
  skorch ``NeuralNetClassifier`` with its per-sample Dataset/DataLoader);
- ``two-domain``: a DANN step (source cross-entropy + domain discriminator
  behind gradient reversal on a source and a target batch of 256 each).

Timings are medians over interleaved repeats in one process; the script
prints the ratios core / hand loop (target: <= 1.15).

Run: ``python benchmarks/bench_training_overhead.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from torch import nn

from skhda._training import DomainDataset, make_net
from skhda.nn import GradientReversal, domain_adversarial_loss

N, D, BATCH, EPOCHS = 20_000, 64, 256, 5


def mlp():
    return nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 2))


class Classify(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, batch):
        return {"ce": F.cross_entropy(self.net(batch.source.X), batch.source.y)}


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
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


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = (X[:, :2].sum(1) > 0).astype(np.int64)
    Xt = (rng.standard_normal((N, D)) + 0.5).astype(np.float32)
    return X, y, Xt


def hand_single(X, y):
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    g = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            loss.item()


def core_single(X, y):
    torch.manual_seed(0)
    net = make_net(Classify(), epochs=EPOCHS, batch_size=BATCH, lr=1e-3, device="cpu", seed=0)
    net.fit(DomainDataset(source={"X": X, "y": y}))


def skorch_plain(X, y):
    torch.manual_seed(0)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def forward(self, X):
            return self.net(X)

    net = NeuralNetClassifier(M, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                              lr=1e-3, max_epochs=EPOCHS, batch_size=BATCH, train_split=None,
                              iterator_train__shuffle=True, verbose=0)
    net.fit(X, y)


def hand_dann(X, y, Xt):
    torch.manual_seed(0)
    model = DANN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y, Xt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Xt)
    g = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        ps, pt = torch.randperm(len(X), generator=g), torch.randperm(len(Xt), generator=g)
        for i in range(0, len(X), BATCH):
            si, ti = ps[i:i + BATCH], pt[i:i + BATCH]
            opt.zero_grad()
            ce, dom = model.losses(X[si], y[si], Xt[ti])
            loss = ce + dom
            loss.backward()
            opt.step()
            loss.item()


def core_dann(X, y, Xt):
    torch.manual_seed(0)
    net = make_net(DANN(), epochs=EPOCHS, batch_size=BATCH, lr=1e-3, device="cpu", seed=0)
    net.fit(DomainDataset(source={"X": X, "y": y}, target={"X": Xt}))


def timeit(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    X, y, Xt = data()
    runs = {"hand single": (hand_single, (X, y)), "core single": (core_single, (X, y)),
            "plain skorch single": (skorch_plain, (X, y)),
            "hand two-domain": (hand_dann, (X, y, Xt)), "core two-domain": (core_dann, (X, y, Xt))}
    for fn, a in runs.values():  # warm-up
        fn(*a)
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, (fn, a) in runs.items():
            times[k].append(timeit(fn, *a))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"N={N}, D={D}, batch={BATCH}, epochs={EPOCHS}, repeats={args.repeats}")
    for k, v in med.items():
        print(f"  {k:22s} {v:7.3f} s median, {min(times[k]):7.3f} s best")
    r1 = med["core single"] / med["hand single"]
    r2 = med["core two-domain"] / med["hand two-domain"]
    r3 = med["plain skorch single"] / med["hand single"]
    print(f"ratio core/hand, single domain : {r1:.3f}")
    print(f"ratio core/hand, two domains   : {r2:.3f}")
    print(f"ratio plain skorch/hand        : {r3:.3f}")
    ok = max(r1, r2) <= 1.15
    best = (min(times["core single"]) / min(times["hand single"]),
            min(times["core two-domain"]) / min(times["hand two-domain"]))
    print(f"best-of-{args.repeats} ratios (single, two domains): {best[0]:.3f}, {best[1]:.3f}")
    print("PASS" if ok else "FAIL", "(target <= 1.15, ratio of medians)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
