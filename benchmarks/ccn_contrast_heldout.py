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

import sys

import torch
from _usps_splits import fit_record, usps_split

from skhda.ccn import CCN, SimilarityNetwork

OUT = "benchmarks/results/ccn-contrast-heldout.jsonl"


def main(settings, seeds, data_dir="../shared/data"):
    torch.set_num_threads(1)
    data = usps_split(data_dir, (0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
    for seed in seeds:
        for k in (5, 100):
            for lam in settings:
                params = {} if lam == "auto" else {"lambda_contrastive": float(lam)}
                # G as in the records: without the jitter, the default before the fifteenth session
                fit_record(CCN(k, similarity=SimilarityNetwork(augment=0.0), random_state=seed,
                               **params), data, k, OUT,
                           task="USPS 0-4 -> USPS 5-9", n_clusters=k, lambda_contrastive=lam,
                           resolved=lambda est: est.lambda_contrastive_, seed=seed)


if __name__ == "__main__":
    main(sys.argv[1].split(","), [int(s) for s in sys.argv[2].split(",")],
         *(sys.argv[3:4] or ["../shared/data"]))
