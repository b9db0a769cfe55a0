"""CCN's ``lambda_contrastive="auto"`` checked after the choice on a few-class image task.

Held-out check of ``doc/benchmarks/ccn.md``, "The contrastive term by default"
(issue 16, eighth session): USPS digits 0-4 (labelled, G learned on them) ->
USPS digits 5-9 (unlabelled, 16 x 16), cross-task, ``CCN(K)`` with K = 5
(known) and K = 100 (an upper bound), at its defaults (the term on: weight 1)
and with ``lambda_contrastive=0`` (the paper's CCN, the previous default).
The task took no part in the choice (the Omniglot proxy split did). Each
line of the output: the setting, the seed, target ACC / NMI, the number of
dominant clusters (true count 5) and the fit time, G included.

    OMP_NUM_THREADS=1 python benchmarks/ccn_contrast_heldout.py auto,0 0,1 [DATA_DIR]
"""

import json
import sys
import time

import torch
from sklearn.metrics import normalized_mutual_info_score as nmi

from skhda.ccn import CCN
from skhda.datasets import load_usps
from skhda.metrics import cluster_accuracy, n_dominant_clusters

OUT = "benchmarks/results/ccn-contrast-heldout.jsonl"


def main(settings, seeds, data_dir="../shared/data"):
    torch.set_num_threads(1)
    X, y = load_usps(data_dir)
    src, tgt = y < 5, y >= 5
    Xs, ys, Xt, yt = X[src, None], y[src], X[tgt, None], y[tgt]
    for seed in seeds:
        for k in (5, 100):
            for lam in settings:
                params = {} if lam == "auto" else {"lambda_contrastive": float(lam)}
                t = time.perf_counter()
                est = CCN(k, random_state=seed, **params).fit(Xs, ys, Xt)
                fit_s = time.perf_counter() - t
                labels = est.labels_
                rec = {"task": "USPS 0-4 -> USPS 5-9", "n_clusters": k,
                       "lambda_contrastive": lam, "resolved": est.lambda_contrastive_,
                       "seed": seed, "acc": float(cluster_accuracy(yt, labels)),
                       "nmi": float(nmi(yt, labels)),
                       "ndc": int(n_dominant_clusters(labels, k)), "fit_s": fit_s}
                print(json.dumps(rec), flush=True)
                with open(OUT, "a") as f:
                    f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main(sys.argv[1].split(","), [int(s) for s in sys.argv[2].split(",")],
         *(sys.argv[3:4] or ["../shared/data"]))
