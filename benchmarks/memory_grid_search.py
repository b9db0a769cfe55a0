"""A grid search over CKM's joint stage, without and with ``memory`` (issue 16, twelfth session).

``doc/benchmarks/ckm.md``, "Stage 1 shared through ``memory``". The embedded
digits as 8 x 8 images, 3 candidates of ``lambda_cluster`` x 3 folds plus the
refit, short epochs, scored without labels (silhouette). Prints the seconds,
how many times each stage was trained and the mean scores (equal with and
without the cache).

    OMP_NUM_THREADS=1 python benchmarks/ckm_memory_grid_search.py
"""

import tempfile
import time

import torch
from sklearn.model_selection import GridSearchCV

import skhda
from skhda import CKM, Domain
from skhda.datasets import load_digits_transfer
from skhda.model_selection import make_target_scorer


def main():
    torch.set_num_threads(1)
    Xs, ys, Xt, _ = load_digits_transfer(as_images=True)
    scorer = make_target_scorer(Xt, metric="silhouette")
    stages = []
    fit = skhda.DomainNet.fit
    skhda.DomainNet.fit = lambda net, *a, **k: stages.append(net.stage) or fit(net, *a, **k)
    with tempfile.TemporaryDirectory() as folder:
        for memory in (None, folder):
            stages.clear()
            est = CKM(n_clusters=5, pretrain_epochs=3, epochs=2, random_state=0, memory=memory)
            search = GridSearchCV(est, {"lambda_cluster": [0.3, 1, 3]}, scoring=scorer, cv=3)
            t = time.perf_counter()
            search.fit(Xs, ys, X_target=Domain(Xt))
            print(f"memory={'folder' if memory else None}: {time.perf_counter() - t:.1f} s, "
                  f"stage 1 trained {stages.count('pretrain')}x, joint {stages.count('joint')}x, "
                  f"scores {search.cv_results_['mean_test_score'].round(4).tolist()}")


if __name__ == "__main__":
    main()
