"""TDCM's image defaults: the candidates, fitted on proxies whose target is sklearn's digits.

The frozen record of the sweep of ``doc/benchmarks/tdcm.md``, "Image defaults"
(issue 16, seventh session). Each job ``"PROXY:CANDIDATE:SEED"`` fits
``TDCM(10, random_state=SEED, **CANDIDATE)`` on the proxy's source images with
its target images given (``use_target="auto"``, as a user calls it), and
scores the target: sklearn's embedded digits resized to 16 x 16, never MNIST
or USPS (the targets of the TDCM benchmarks). "defaults" is the code before
the change, whose image defaults were the views off and 50 epochs; the
registry task ``tdcm-image-proxies`` names the same fits.

    python benchmarks/tdcm_image_proxy.py "USPS -> digits:aug-e20:0" ...
"""

import json
import sys
import time

import torch
from sklearn.metrics import normalized_mutual_info_score as nmi

from skhda.benchmark.tasks._proxies import _load_proxy
from skhda.metrics import cluster_accuracy
from skhda.tdcm import TDCM

CANDIDATES = {
    "defaults": {},   # before the change: pretrain 0, views off, 50 epochs
    "aug-e20": dict(pretrain_epochs=5, epochs=20, lambda_contrastive=10.0, lambda_consistency=3.0),
    "aug-e40": dict(pretrain_epochs=5, epochs=40, lambda_contrastive=10.0, lambda_consistency=3.0),
}


def main(jobs, data_dir="../shared/data", out="sweep.jsonl"):
    torch.set_num_threads(1)
    for job in jobs:
        proxy, cand, seed = job.split(":")
        d = _load_proxy(data_dir, proxy)
        t = time.time()
        est = TDCM(10, random_state=int(seed), **CANDIDATES[cand]).fit(
            d.X_source, X_target=d.X_target)
        fit_s = time.time() - t
        pred = est.predict(d.X_target)
        rec = {"proxy": proxy, "candidate": cand, "settings": CANDIDATES[cand],
               "seed": int(seed), "acc": cluster_accuracy(d.y_target, pred),
               "nmi": nmi(d.y_target, pred),
               "source_nmi": nmi(d.y_source, est.predict(d.X_source, domain="source")),
               "fit_s": fit_s}
        print(json.dumps(rec), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
