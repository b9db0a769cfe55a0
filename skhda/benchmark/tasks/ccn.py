"""CCN family (Hsu, Lv and Kira): cross-domain CCN+ / CCN++ and cross-task CCN.

Cross-domain (shared labels): USPS (all 9298 rows, labelled) -> MNIST test
(10 000 rows), 16 x 16, all 10 digits; SourceOnly, DANN, CCN+ and CCN++ on
one conv backbone, plus our contrastive term; accuracy of the predicted
labels on every target row. The proxy task MNIST test -> USPS chose the
adversarial weight; the quick task trains on 3000 + 3000 rows drawn per seed.

Cross-task (disjoint classes): G learned on the Omniglot background-small
alphabets 0-3, each of alphabets 4-7 (a condition) clustered on its own with
K known and K = 100, by CCN (MCL, KCL) and by k-means / spectral clustering on
the pixels and on G's embedding; ACC, NMI and ``|NDC - true count|``. The
proxy split learns G on alphabets 0-1 and clusters 2 and 3.

Every row is written with the protocol's parameters (not the estimators'
defaults, which may change); the "(defaults)" rows track the defaults. The
backbones start from the weights the old scripts built: torch seeded with
the seed, G's backbone built first, then the clustering backbones in the
scripts' order, so a seed's figures repeat the documented runs.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from ...baselines import SourceOnly
from ...ccn import CCN, CCNPlus, SimilarityNetwork
from ...datasets import load_mnist, load_omniglot, load_usps
from ...metrics import cluster_accuracy, n_dominant_clusters
from ...nn.encoders import ConvEncoder
from .._core import Method, Task, TransferData, configure, fit_and_score
from ._proxies import _load_proxy


def _backbones(seed, shape, channels, g_dim, dim, n):
    """G's backbone and the ``n``-th clustering backbone built after ``torch.manual_seed(seed)``.

    The old scripts built G's backbone first, then one clustering backbone
    per fit, from the global torch state; building them again in that order
    (in a forked random state) gives the same initial weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g_encoder = ConvEncoder(shape, g_dim, channels)
        for _ in range(n):
            ConvEncoder(shape, dim, channels)
        return g_encoder, ConvEncoder(shape, dim, channels)


def _g_settings(settings):
    """The ``--set similarity__P=V`` settings (and ``--device``) as G's own parameters."""
    out = {k.removeprefix("similarity__"): v for k, v in settings.items()
           if k.startswith("similarity__")}
    if "device" in settings:
        out.setdefault("device", settings["device"])
    return out


# ------------------------------------------------------------- USPS -> MNIST
DIGIT_CHANNELS = (32, 64, 128)
# the protocol of ccn.md's tables (written out: the estimators' defaults may change)
DIGIT_G = {"classes_per_batch": 10, "samples_per_class": 10, "hidden_dim": 256,
           "embedding_dim": 64, "augment": 0.375, "lr": 1e-3}
DIGIT_NET = {"embedding_dim": 128, "lr": 1e-3}
DIGIT_CCN = {"loss": "mcl", "margin": 2.0, "similarity_bn": "target", "source_batch_size": 32,
             "batch_size": 96, "lambda_cluster": 1.0, "lambda_adversarial": 1.0,
             "lambda_contrastive": 0.0, "augment": 0.5}
# the paper's figures are SVHN -> MNIST with G from Omniglot (its Table 12; DANN: Ganin et al.)
DIGIT_PAPER = {"SourceOnly": 0.520, "DANN": 0.739, "CCN+": 0.891}


def _digit_rows(epochs, g_epochs, weights=(1.0,)):
    def G(c, enc):
        return SimilarityNetwork(**DIGIT_G, encoder=enc, epochs=g_epochs, random_state=c.seed)

    def ccn(c, with_g=True, **kw):
        g_enc, enc = _backbones(c.seed, (1, 16, 16), DIGIT_CHANNELS, 64, 128, 0)
        params = {**DIGIT_CCN, "similarity": G(c, g_enc) if with_g else None, **kw}
        return CCNPlus(**params, **DIGIT_NET, encoder=enc, epochs=epochs, random_state=c.seed)

    def source_only(c):
        enc = _backbones(c.seed, (1, 16, 16), DIGIT_CHANNELS, 64, 128, 0)[1]
        return SourceOnly(**DIGIT_NET, encoder=enc, epochs=epochs, batch_size=128,
                          random_state=c.seed)

    def tag(w):
        return "" if w == 1 else f" (lambda_adversarial={w:g})"

    rows = [Method("SourceOnly", source_only), Method("CCN+", ccn)]
    for w in weights:
        rows += [Method("DANN" + tag(w), lambda c, w=w: ccn(
                     c, False, adversarial=True, lambda_cluster=0.0, lambda_adversarial=w)),
                 Method("CCN++" + tag(w), lambda c, w=w: ccn(
                     c, adversarial=True, lambda_adversarial=w))]
    rows += [
        Method("SourceOnly + contrastive (1)", lambda c: ccn(
            c, False, lambda_cluster=0.0, lambda_contrastive=1.0)),
        Method("CCN+ + contrastive (1)", lambda c: ccn(c, lambda_contrastive=1.0)),
        Method("CCN+ (defaults)", lambda c: CCNPlus(random_state=c.seed)),
        Method("CCN++ (defaults)", lambda c: CCNPlus(adversarial=True, random_state=c.seed)),
    ]
    return tuple(Method(m.name, m.make, {"acc": DIGIT_PAPER[m.name]}
                        if m.name in DIGIT_PAPER else {}, scoring="label") for m in rows)


def _load_digits(data_dir, reverse=False):
    (Xu, yu), (Xm, ym) = load_usps(data_dir), load_mnist(data_dir, 16)
    if reverse:
        (Xu, yu), (Xm, ym) = (Xm, ym), (Xu, yu)
    return TransferData(Xu[:, None], yu, Xm[:, None], ym)


def _fit_and_score(method, ctx, settings):
    """:func:`fit_and_score`, with ``--device`` also moving the G a row learns."""
    if "device" in settings:
        settings = {"similarity__device": settings["device"], **settings}
    return fit_and_score(method, ctx, settings)


QUICK_ROWS = 3000


def _quick(method, ctx, settings):
    """The quick protocol: fit on 3000 source + 3000 target rows drawn per seed, score all."""
    d = ctx.data
    rng = np.random.default_rng(ctx.seed)
    s = rng.permutation(len(d.X_source))[:QUICK_ROWS]
    t = rng.permutation(len(d.X_target))[:QUICK_ROWS]
    ctx.data = TransferData(d.X_source[s], d.y_source[s], d.X_target[t], d.y_target[t],
                            X_eval=d.X_target, y_eval=d.y_target)
    return _fit_and_score(method, ctx, settings)


_DIGITS = {"paper": "CCN paper, Table 12 (SVHN -> MNIST, G from Omniglot)",
           "setting": "UDA, shared labels (10 digits)", "files": ("usps.npz", "mnist_test.npz"),
           "metrics": ("acc",), "seeds": 3, "paper_column": "paper, SVHN -> MNIST",
           "evaluate": _fit_and_score}
_DIGIT_NOTES = (
    "ACC: accuracy of the predicted labels on every target row (target labels for scoring "
    "only). One conv backbone (32-64-128, BN, 128-d) for every row, 15 epochs, Adam 1e-3; "
    "G: conv 32-64-128, 64-d, 10 classes x 10 rows per batch, augment=0.375, 30 epochs, "
    "AdaBN on the target; MCL. Each CCN row learns its own G, seeded with the seed (the same "
    "G for CCN+ and CCN++ of a seed, up to device nondeterminism), and its fit time "
    "includes G's.")

PROXIES = ("MNIST -> USPS", "digits -> USPS", "USPS -> digits")  # never MNIST test as the target


TASKS = [
    Task(name="ccn-usps-mnist", title="CCN+ / CCN++: USPS (source) -> MNIST test, 16 x 16, "
         "10 digits",
         cpu_time="about 30 min per seed for the four paper rows (CCN+ 682 s incl. G; "
                  "H100: 4 min), 1 h with the contrastive rows",
         load=lambda data_dir, _: _load_digits(data_dir), methods=_digit_rows(15, 30),
         notes=_DIGIT_NOTES, **_DIGITS),
    Task(name="ccn-mnist-usps-proxy",
         title="CCN+ / CCN++, proxy task for the settings: MNIST test -> USPS, 16 x 16",
         cpu_time="about 1 h per seed (CCN+ 749 s incl. G)",
         load=lambda data_dir, _: _load_digits(data_dir, reverse=True),
         methods=_digit_rows(15, 30, weights=(1.0, 0.3, 0.1)),
         notes=_DIGIT_NOTES + " The task lambda_adversarial was chosen on (labels we may use).",
         **_DIGITS),
    Task(name="ccn-usps-mnist-quick",
         title="CCN+ / CCN++, quick: 3000 USPS + 3000 MNIST rows (drawn per seed) for "
               "training, all 10 000 MNIST rows scored",
         cpu_time="about 5 min per seed (the four paper rows)",
         load=lambda data_dir, _: _load_digits(data_dir), methods=_digit_rows(5, 10),
         notes=_DIGIT_NOTES.replace("15 epochs", "5 epochs").replace("30 epochs", "10 epochs"),
         **{**_DIGITS, "seeds": 1, "evaluate": _quick}),
    Task(name="ccn-digit-proxies-quick",
         title="CCN+ / CCN++ / DANN, proxy tasks of the BatchNorm passes and statistics: "
               "MNIST test -> USPS, sklearn digits -> USPS, USPS -> sklearn digits (16 x 16)",
         cpu_time="about 6 min per seed and proxy (the four paper rows)",
         load=_load_proxy, conditions=PROXIES,
         methods=tuple(dataclasses.replace(m, paper={}) for m in _digit_rows(5, 10)[:4]),
         notes=_DIGIT_NOTES.replace("15 epochs", "5 epochs").replace("30 epochs", "10 epochs")
         + " Quick protocol (3000 + 3000 rows drawn per seed; sklearn's digits has 1797); "
           "each cell pools the three proxies and the seeds. Labels we may use: the benchmark's "
           "target, MNIST test, is never a target here.",
         **{**_DIGITS, "paper": "none (settings protocol for CCN+ / CCN++ / DANN)",
            "paper_column": "paper", "seeds": 2, "evaluate": _quick}),
]


# ----------------------------------------------------------------- Omniglot
OMNI_CHANNELS = (32, 64, 64, 64)
OMNI_G = {"classes_per_batch": 20, "samples_per_class": 5, "hidden_dim": 256,
          "embedding_dim": 64, "augment": 0.375, "epochs": 40, "lr": 1e-3}
OMNI_CCN = {"margin": 2.0, "similarity_bn": "target", "augment": 0.5, "embedding_dim": 128,
            "epochs": 80, "batch_size": 100, "lr": 1e-3}
# the paper's Table 1 (Omniglot evaluation set, 20 alphabets; CCN with KCL, its LCO);
# MCL: the public re-implementation (METHODS.md)
OMNI_PAPER = {("CCN (KCL)", "known"): {"acc": 0.824, "nmi": 0.889},
              ("CCN (KCL)", "100"): {"acc": 0.781, "nmi": 0.874},
              ("CCN (MCL)", "known"): {"acc": 0.857}, ("CCN (MCL)", "100"): {"acc": 0.825},
              ("k-means, pixels", "known"): {"acc": 0.217, "nmi": 0.353},
              ("k-means, pixels", "100"): {"acc": 0.189, "nmi": 0.464}}
G_ROW = "G (pair labels, AdaBN)"
PAIR_METRICS = ("similar_precision", "similar_recall", "dissimilar_precision",
                "dissimilar_recall")


def _omniglot(data_dir, condition, n_source):
    X, y, alphabet = load_omniglot(data_dir)
    a = int(condition.split()[-1])
    src, tgt = alphabet < n_source, alphabet == a
    return TransferData(X[src, None], y[src], X[tgt, None], y[tgt],
                        extra={"alphabet": a, "order": a - n_source})


def _shared_G(ctx, settings=None):
    """(G, its fit time): the protocol's G, fitted once per seed on the source alphabets."""
    if ctx.data is None:        # the command's --set check: an unfitted G shows its parameters
        return SimilarityNetwork(**OMNI_G), 0.0

    def build():
        enc = _backbones(ctx.seed, (1, 28, 28), OMNI_CHANNELS, 64, 128, 0)[0]
        G = configure(SimilarityNetwork(**OMNI_G, encoder=enc, random_state=ctx.seed),
                      _g_settings(settings or {}))
        t = time.perf_counter()
        G.fit(ctx.data.X_source, ctx.data.y_source)
        return G, time.perf_counter() - t

    return ctx.shared(("G", ctx.seed), build)


def _k(ctx, k):
    if k == "100":
        return 100
    return len(np.unique(ctx.data.y_target)) if ctx.data is not None else 2


def _flat(X):
    return X.reshape(len(X), -1)


def _on(representation, ctx, clusterer):
    """``clusterer`` on the target's pixels or on G's embedding."""
    if representation == "pixels":
        return make_pipeline(FunctionTransformer(_flat), clusterer)
    return make_pipeline(FunctionTransformer(_shared_G(ctx)[0].transform), clusterer)


def _ccn(ctx, k, loss, **kw):
    # the old script's order: per alphabet, K known then K = 100 (one loss per run)
    n = 2 * (ctx.data.extra["order"] if ctx.data is not None else 0) + (k == "100")
    enc = _backbones(ctx.seed, (1, 28, 28), OMNI_CHANNELS, 64, 128, n)[1]
    return CCN(_k(ctx, k), loss=loss, similarity=_shared_G(ctx)[0], encoder=enc,
               random_state=ctx.seed, **{**OMNI_CCN, "lambda_contrastive": 0.0, **kw})


def _omniglot_rows():
    rows = [Method(G_ROW, lambda c: _shared_G(c)[0])]
    for k in ("known", "100"):
        name = "K known" if k == "known" else "K = 100"
        rows += [Method(f"k-means, pixels, {name}", lambda c, k=k: _on(
                     "pixels", c, KMeans(_k(c, k), n_init=4, random_state=c.seed)), deep=False),
                 Method(f"k-means, G embedding, {name}", lambda c, k=k: _on(
                     "G", c, KMeans(_k(c, k), n_init=4, random_state=c.seed)))]
        if k == "known":
            rows += [Method(f"spectral, {rep}, K known", lambda c, rep=rep: _on(
                rep, c, SpectralClustering(_k(c, "known"), affinity="nearest_neighbors",
                                           n_neighbors=10, random_state=c.seed)),
                            deep=rep != "pixels")
                     for rep in ("pixels", "G embedding")]
        rows += [Method(f"CCN ({loss.upper()}), {name}", lambda c, k=k, loss=loss: _ccn(
                     c, k, loss)) for loss in ("mcl", "kcl")]
        rows += [Method(f"CCN (MCL, lambda_contrastive=1), {name}", lambda c, k=k: _ccn(
                     c, k, "mcl", lambda_contrastive=1.0)),
                 Method(f"CCN (defaults, the protocol's G), {name}", lambda c, k=k: CCN(
                     _k(c, k), similarity=_shared_G(c)[0], random_state=c.seed))]
    out = []
    for m in rows:
        base, _, k = m.name.rpartition(", K ")
        paper = OMNI_PAPER.get((base, "known" if k == "known" else "100"), {})
        out.append(Method(m.name, m.make, paper, deep=m.deep))
    return tuple(out)


def _cluster_alphabet(method, ctx, settings):
    """Cluster one target alphabet with G fixed; ACC, NMI, ``|NDC - true count|``.

    The G row scores G's pair labels on the alphabet (with AdaBN, as CCN uses
    them) and its fit time is G's training time; a CCN row also records its
    mean time per epoch (``epoch_s``).
    """
    d = ctx.data
    G, g_s = _shared_G(ctx, settings)
    y = np.asarray(d.y_target)
    if method.name == G_ROW:
        scores = G.pair_scores(d.X_target, y, adapt_batchnorm=True)
        return {**{k: float(scores[k]) for k in PAIR_METRICS},
                "fit_s": 0.0 if ctx.shared_s else g_s}
    est = method.make(ctx)
    if method.deep:
        est = configure(est, settings)
    t = time.perf_counter()
    is_ccn = isinstance(est, CCN)
    labels = est.fit_predict(d.X_target, None, d.X_target) if is_ccn else \
        est.fit_predict(d.X_target)
    fit_s = time.perf_counter() - t
    k = est.n_clusters if is_ccn else est[-1].n_clusters
    acc = float(cluster_accuracy(y, labels))
    out = {"acc": acc, "nmi": float(normalized_mutual_info_score(y, labels)),
           "ndc_error": abs(int(n_dominant_clusters(labels, k)) - len(np.unique(y))),
           f"ACC alphabet {d.extra['alphabet']}": acc, "fit_s": fit_s}
    if is_ccn:
        out["epoch_s"] = float(np.mean(est.history_[:, "dur"]))
    return out


def _omniglot_task(name, title, n_source, targets, cpu_time, notes):
    return Task(
        name=name, title=title,
        paper="CCN paper, Table 1 (Omniglot background -> evaluation, 20 alphabets)",
        setting="cross-task transfer: G from labelled alphabets, unseen alphabets clustered",
        files=("omniglot_background_small.npz",), cpu_time=cpu_time,
        load=lambda data_dir, c: _omniglot(data_dir, c, n_source), methods=_omniglot_rows(),
        metrics=("acc", "nmi", "ndc_error", *(f"ACC alphabet {a}" for a in targets),
                 "similar_precision", "similar_recall"),
        conditions=tuple(f"alphabet {a}" for a in targets), evaluate=_cluster_alphabet,
        seeds=3, paper_column="paper, Omniglot evaluation", notes=notes)


_OMNI_NOTES = (
    "Each cell pools the target alphabets and the seeds (ACC alphabet a: that alphabet's "
    "seeds). ACC Hungarian-matched; |NDC - K|: dominant clusters against the true count. "
    "G: 4 conv blocks (32-64-64-64, BN), 64-d, pair head FC256-BN-ReLU, 20 classes x 5 rows "
    "per batch, augment=0.375, 40 epochs, trained once per seed (its row: its pair labels "
    "on the target alphabet with AdaBN, and its training time). CCN: the same conv blocks, "
    "128-d, 80 epochs of batch 100, G's BatchNorm re-estimated on the alphabet; k-means "
    "n_init=4; spectral on a 10-NN graph. Target labels for scoring only (K known uses the "
    "count).")

TASKS += [
    _omniglot_task("ccn-omniglot", "CCN cross-task clustering: Omniglot background-small, G "
                   "on alphabets 0-3, alphabets 4-7 clustered", 4, (4, 5, 6, 7),
                   "about 35 min per seed for the main table's rows (measured with the "
                   "contrastive CCN rows; H100: 2 min), all rows a few times that",
                   _OMNI_NOTES),
    _omniglot_task("ccn-omniglot-proxy", "CCN cross-task clustering, proxy split for the "
                   "settings: G on alphabets 0-1, alphabets 2-3 clustered", 2, (2, 3),
                   "about 20 min per seed", _OMNI_NOTES + " The split settings are compared "
                   "on: only the training alphabets' labels are used."),
]
