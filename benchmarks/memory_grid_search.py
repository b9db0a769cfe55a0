"""A grid search over a method's later stage, without and with ``memory``.

Issue 16: CKM in the twelfth session (``doc/benchmarks/ckm.md``, "Stage 1
shared through ``memory``"), CCN, TDCM and XDC in the fourteenth
(``doc/user_guide.rst``, the grid-search section). The embedded digits
as 8 x 8 images, 3 candidates x 3 folds plus the refit, short epochs,
scored without labels (silhouette of the target rows). The folds split the source rows; the
target rows are the same in every fit. Prints the seconds, how many times
each stage was trained and the mean scores (equal with and without the cache).

- ``CKM``: ``lambda_cluster`` in 0.3 / 1 / 3 (stage 1 is cached);
- ``CCN``: ``n_clusters`` in 5 / 8 / 10 (G is cached);
- ``TDCM``: ``beta`` in 10 / 30 / 100 (the contrastive pretraining is cached);
- ``XDC``: ``link_threshold`` in 0.5 / 0.7 / 0.9, 5 clusters (both stages are cached).

    OMP_NUM_THREADS=1 python benchmarks/memory_grid_search.py [CKM|CCN|TDCM|XDC]
"""

import sys
import tempfile
import time
from collections import Counter

import torch
from sklearn.model_selection import GridSearchCV

import skhda
from skhda import Domain
from skhda.datasets import load_digits_transfer
from skhda.model_selection import make_target_scorer

SEARCHES = {
    "CKM": (lambda memory: skhda.CKM(n_clusters=5, pretrain_epochs=3, epochs=2, random_state=0,
                                     memory=memory), {"lambda_cluster": [0.3, 1, 3]}),
    "CCN": (lambda memory: skhda.CCN(
        n_clusters=5, epochs=3, n_init=1, random_state=0, memory=memory,
        similarity=skhda.SimilarityNetwork(classes_per_batch=5, epochs=10,
                                           augment=0.0)),   # as measured (no jitter)
        {"n_clusters": [5, 8, 10]}),
    "TDCM": (lambda memory: skhda.TDCM(n_clusters=5, pretrain_epochs=3, epochs=2, n_init=1,
                                       random_state=0, memory=memory),
             {"beta": [10.0, 30.0, 100.0]}),
    "XDC": (lambda memory: skhda.XDC(n_clusters=5, epochs=3, gcn_epochs=2, random_state=0,
                                     memory=memory),
            {"link_threshold": [0.5, 0.7, 0.9]}),
}


def main(method="CKM"):
    torch.set_num_threads(1)
    Xs, ys, Xt, _ = load_digits_transfer(as_images=True)
    scorer = make_target_scorer(Xt, metric="silhouette")
    stages = []
    fit = skhda.DomainNet.fit
    skhda.DomainNet.fit = lambda net, *a, **k: stages.append(net.stage) or fit(net, *a, **k)
    make, grid = SEARCHES[method]
    with tempfile.TemporaryDirectory() as folder:
        for memory in (None, folder):
            stages.clear()
            search = GridSearchCV(make(memory), grid, scoring=scorer, cv=3)
            t = time.perf_counter()
            search.fit(Xs, ys, X_target=Domain(Xt))
            trained = ", ".join(f"{s} {n}x" for s, n in Counter(stages).items())
            print(f"{method} memory={'folder' if memory else None}: "
                  f"{time.perf_counter() - t:.1f} s, trained: {trained}, "
                  f"scores {search.cv_results_['mean_test_score'].round(4).tolist()}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
