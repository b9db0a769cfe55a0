"""CCN's default similarity network G trained with the affine jitter on images (proxies).

Issue 16, fifteenth session (``doc/benchmarks/ccn.md``, "G trained on jittered
images"). CCN fitted its G (:class:`skhda.ccn.SimilarityNetwork`) on the
labelled source with ``augment=0.0`` before this session (the default is now
``"auto"``, 0.5 for images, chosen here); the candidate trains the same G on
randomly jittered source images (``augment=0.5``, the strength of CCN's own
views). Proxies whose labels we may use: the USPS cross-task class splits of
``ccn_image_graph_proxy`` (never USPS 0-4 -> 5-9, the held-out check, run
with ``heldout`` after the choice), K = 5 and 100, CCN at its defaults
otherwise. The K = 5 and K = 100 fits of one seed and G share G through
``memory`` (the second restores it). Each line also gives G's similar /
dissimilar pair precision and recall on 1,500 target rows, its BatchNorm statistics
re-estimated on them as CCN's ``similarity_bn="target"`` does (labels only
to record).

    OMP_NUM_THREADS=1 python benchmarks/ccn_similarity_augment_proxy.py 0.0,0.5 0,1 DATA [heldout]

``omniglot`` instead of ``heldout``: a check made after the choice, on
another family, CCN fully at its defaults (G included: 30 epochs, the default
conv encoder; not the Omniglot protocol's G) on the Omniglot proxy split
(G on alphabets 0-1; alphabets 2 and 3 clustered with K known), beside G
without the jitter.
"""

import sys
import tempfile

import numpy as np
import torch
from _usps_splits import fit_record, usps_split
from ccn_image_graph_proxy import HELD_OUT, SPLITS

from skhda.benchmark.tasks.ccn import _omniglot
from skhda.ccn import CCN, SimilarityNetwork

OUT = "benchmarks/results/ccn-similarity-augment-proxy.jsonl"


def pair_scores(est, Xt, yt, n=1500):
    """G's pair precision / recall on ``n`` random target rows (seeded)."""
    rows = np.random.default_rng(0).choice(len(Xt), min(n, len(Xt)), replace=False)
    scores = est.similarity_.pair_scores(Xt[rows], yt[rows], adapt_batchnorm=True)
    return {key: round(float(v), 4) for key, v in scores.items()}


def omniglot(augments, seeds, data_dir):
    """CCN(K known) at its defaults on the Omniglot proxy alphabets 2 and 3 (G on 0-1)."""
    for seed in seeds:
        for a in (2, 3):
            d = _omniglot(data_dir, f"alphabet {a}", 2)
            data = (d.X_source, d.y_source, d.X_target, d.y_target)
            k = len(np.unique(d.y_target))
            for augment in augments:
                fit_record(CCN(k, similarity=SimilarityNetwork(augment=augment),
                               random_state=seed), data, k, OUT,
                           task=f"Omniglot proxy, alphabet {a} (G on 0-1)", n_clusters=k,
                           similarity_augment=augment, seed=seed,
                           resolved=lambda est: est.target_graph_,
                           pairs=lambda est, d=data: pair_scores(est, d[2], d[3]))


def main(augments, seeds, data_dir="../shared/data", which="proxies"):
    torch.set_num_threads(1)
    if which == "omniglot":
        return omniglot(augments, seeds, data_dir)
    for seed in seeds:
        for name, (src, tgt) in (HELD_OUT if which == "heldout" else SPLITS).items():
            data = usps_split(data_dir, src, tgt)
            for augment in augments:
                memory = tempfile.mkdtemp(prefix="skhda-g-augment-")
                for k in (5, 100):
                    est = CCN(k, similarity=SimilarityNetwork(augment=augment),
                              random_state=seed, memory=memory)
                    fit_record(est, data, k, OUT, task=name, n_clusters=k,
                               similarity_augment=augment, seed=seed,
                               G_restored=k != 5, resolved=lambda est: est.target_graph_,
                               agreement=lambda est: est.target_agreement_,
                               pairs=lambda est, d=data: pair_scores(est, d[2], d[3]))


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1].split(",")], [int(s) for s in sys.argv[2].split(",")],
         *(sys.argv[3:5] or ["../shared/data"]))
