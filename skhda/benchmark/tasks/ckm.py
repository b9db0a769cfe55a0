"""CKM family (Tang et al.): USPS 0-4 (source) -> MNIST test 5-9 (target), 16 x 16.

Rows: k-means and spectral clustering on the target pixels; the strongest
target-only deep baseline, N2D-style (:class:`~skhda.baselines.N2DClustering`:
autoencoder on the target rows, spectral embedding, Gaussian mixture; no
source at all) and its clusterer on the pixels; the CKM paper's
baselines Target clustering (``CKM(use_source="none")``) and Src+Targ
clustering (``CKM(use_source="reconstruction")``); DEC-UDA, DCN-UDA, CKM-UDA
at skhda's defaults and in the paper-faithful setting; CKM-SSDA with 2-5
labelled target rows per class (drawn per seed, not scored). The proxy task
(MNIST 0-4 -> USPS 5-9) is the one the defaults were checked on.
"""

from __future__ import annotations

from dataclasses import replace

from sklearn.cluster import KMeans, SpectralClustering

from ...baselines import ManifoldGMM, N2DClustering, TargetClustering
from ...ckm import CKM, DCNAdapter, DECAdapter
from ...datasets import load_mnist, load_usps
from .._core import Method, Task, TransferData

K = 5
PAPER_FAITHFUL = {"augment": 0.0, "standardize_embedding": False, "init": "kmeans++",
                  "lambda_pseudo": 0.0, "pseudo_refresh": 0, "lambda_source_pretrain": 0.0}
# the paper's own figures are on SVHN 0-4 -> MNIST 5-9 (no SVHN copy here)
PAPER = {"Target clustering": 0.821, "Src+Targ clustering": 0.867, "DEC-UDA": 0.916,
         "DCN-UDA": 0.901, "CKM-UDA": 0.961, "CKM-UDA (paper-faithful)": 0.961,
         "CKM-SSDA, 2 shots": 0.980, "CKM-SSDA, 3 shots": 0.982, "CKM-SSDA, 4 shots": 0.983,
         "CKM-SSDA, 5 shots": 0.984}


def load_pair(data_dir, reverse=False, swap_classes=False):
    """USPS digits 0-4 -> MNIST test digits 5-9.

    ``reverse``: MNIST 0-4 -> USPS 5-9; ``swap_classes``: USPS 5-9 -> MNIST
    test 0-4 (the benchmark's direction, the other digits).
    """
    (Xu, yu), (Xm, ym) = load_usps(data_dir), load_mnist(data_dir, 16)
    if reverse:
        (Xu, yu), (Xm, ym) = (Xm, ym), (Xu, yu)
    src, tgt = (yu >= 5, ym < 5) if swap_classes else (yu < 5, ym >= 5)
    return TransferData(Xu[src], yu[src], Xm[tgt], ym[tgt])


def _umap(seed):
    """N2D's manifold step: UMAP to K dimensions, 20 neighbours, min_dist 0."""
    import umap

    return umap.UMAP(n_components=K, n_neighbors=20, min_dist=0.0, random_state=seed)


def _methods():
    rows = [
        Method("k-means (target pixels)", lambda c: TargetClustering(
            KMeans(K, n_init=10), random_state=c.seed), deep=False),
        Method("spectral (target pixels)", lambda c: TargetClustering(
            SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10),
            random_state=c.seed), deep=False),
        Method("spectral embedding + GMM (target pixels)", lambda c: TargetClustering(
            ManifoldGMM(K), random_state=c.seed), deep=False),
        Method("N2D-style (target only: autoencoder + spectral embedding + GMM)",
               lambda c: N2DClustering(K, random_state=c.seed)),
        Method("UMAP + GMM (target pixels; umap-learn)", lambda c: TargetClustering(
            ManifoldGMM(K, _umap(c.seed)), random_state=c.seed), deep=False,
            requires=("umap",)),
        Method("Target clustering", lambda c: CKM(K, use_source="none", random_state=c.seed)),
        Method("Src+Targ clustering", lambda c: CKM(K, use_source="reconstruction",
                                                    random_state=c.seed)),
        Method("DEC-UDA", lambda c: DECAdapter(K, random_state=c.seed)),
        Method("DCN-UDA", lambda c: DCNAdapter(K, random_state=c.seed)),
        Method("CKM-UDA", lambda c: CKM(K, random_state=c.seed)),
        Method("CKM-UDA (paper-faithful)", lambda c: CKM(K, random_state=c.seed,
                                                         **PAPER_FAITHFUL)),
    ]
    rows += [Method(f"CKM-SSDA, {k} shots", lambda c: CKM(random_state=c.seed), shots=k)
             for k in (2, 3, 4, 5)]
    return tuple(replace(m, paper={"acc": PAPER[m.name]}) if m.name in PAPER else m
                 for m in rows)


_COMMON = {"paper": "the CKM paper, Table 1 (UDA) and Table 2 (SSDA)",
           "setting": "UDA and SSDA (k labelled target rows per class), disjoint label sets",
           "files": ("usps.npz", "mnist_test.npz"), "methods": _methods(), "seeds": 5,
           "paper_column": "paper, SVHN -> MNIST"}

TASKS = [
    Task(name="ckm-usps-mnist", title="CKM family: USPS 0-4 -> MNIST test 5-9, 16 x 16",
         cpu_time="about 25 min per seed (12 rows; CKM-UDA 116 s)",
         load=lambda data_dir, _: load_pair(data_dir),
         notes="ACC: Hungarian-matched for clusters, plain accuracy of the SSDA labels on the "
               "unlabelled target rows. The paper reports SVHN 0-4 -> MNIST 5-9.", **_COMMON),
    Task(name="ckm-mnist-usps-proxy",
         title="CKM family, proxy task for the defaults: MNIST test 0-4 -> USPS 5-9",
         cpu_time="about 20 min per seed",
         load=lambda data_dir, _: load_pair(data_dir, reverse=True),
         notes="The task the CKM defaults are checked on (its labels may be used); "
               "the paper column is the paper's SVHN -> MNIST figure.", **_COMMON),
    Task(name="ckm-usps-mnist-proxy",
         title="CKM family, second proxy task: USPS 5-9 -> MNIST test 0-4",
         cpu_time="about 20 min per seed",
         load=lambda data_dir, _: load_pair(data_dir, swap_classes=True),
         notes="The benchmark's direction with the other digits (its labels may be used; "
               "the image rule of CKM's init / recluster was chosen on it and on "
               "ckm-mnist-usps-proxy, then on four USPS class splits, "
               "benchmarks/ckm_start_agreement_proxy.py); the paper column is the paper's "
               "SVHN -> MNIST figure.",
         **_COMMON),
]
