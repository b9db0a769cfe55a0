"""CCN on few-class image targets: G alone against G + the target's t-SNE graph (proxies).

Issue 16, eighth session (``doc/benchmarks/ccn.md``, "The contrastive term by
default"). Cross-task USPS class splits whose labels we may use: the source
classes are labelled (G learns them), the target classes are clustered,
16 x 16 images. USPS 0-4 -> 5-9 is left out: it is the held-out check of
``benchmarks/ccn_contrast_heldout.py``. Candidates: ``target_graph="off"``
(the image default: G labels every pair) and ``"tsne"`` (the vector default:
pairs from the neighbour lists of a 2-d t-SNE map of the target pixels), both
with ``n_init=1`` and the default ``lambda_contrastive`` (1 on images).

    OMP_NUM_THREADS=1 python benchmarks/ccn_image_graph_proxy.py off,tsne 0,1 [DATA_DIR]

Fourteenth session: ``auto`` (the image rule of ``target_graph="auto"``, the
t-SNE graph where two pixel clusterings agree) records the graph it took and
the agreement; a fourth argument ``heldout`` runs USPS 0-4 -> 5-9 instead of
the proxies, the check made after the rule was fixed.

    OMP_NUM_THREADS=1 python benchmarks/ccn_image_graph_proxy.py auto 0,1 DATA_DIR heldout
"""

import sys

import torch
from _usps_splits import fit_record, usps_split

from skhda.ccn import CCN, SimilarityNetwork

OUT = "benchmarks/results/ccn-image-graph-proxy.jsonl"
SPLITS = {"USPS 5-9 -> 0-4": ((5, 6, 7, 8, 9), (0, 1, 2, 3, 4)),
          "USPS evens -> odds": ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9)),
          "USPS odds -> evens": ((1, 3, 5, 7, 9), (0, 2, 4, 6, 8))}
HELD_OUT = {"USPS 0-4 -> 5-9": ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))}


def main(graphs, seeds, data_dir="../shared/data", which="proxies"):
    torch.set_num_threads(1)
    for seed in seeds:
        for name, (src, tgt) in (HELD_OUT if which == "heldout" else SPLITS).items():
            data = usps_split(data_dir, src, tgt)
            for k in (5, 100):
                for graph in graphs:
                    # G as in the records: no jitter (the default before the fifteenth session)
                    fit_record(CCN(k, similarity=SimilarityNetwork(augment=0.0),
                                   target_graph=graph, n_init=1, random_state=seed),
                               data, k, OUT, task=name, n_clusters=k, target_graph=graph,
                               n_init=1, lambda_contrastive=lambda est: est.lambda_contrastive_,
                               seed=seed, resolved=lambda est: est.target_graph_,
                               agreement=lambda est: est.target_agreement_)


if __name__ == "__main__":
    main(sys.argv[1].split(","), [int(s) for s in sys.argv[2].split(",")],
         *(sys.argv[3:5] or ["../shared/data"]))
