"""Barnes-Hut ``angle=0.8`` in skhda's t-SNE maps: accuracy and time on proxies.

Issue 16, fifteenth session (``doc/benchmarks/ckm.md``, "A coarser t-SNE").
skhda's t-SNE steps (:func:`skhda.nn.graph.tsne_map`: CKM's start and refresh
maps, CCN's target graph and its image rule) use scikit-learn's Barnes-Hut
``angle=0.5`` (before this session). The candidate is 0.8. Each pair of
fits differs only in the angle of every map (forced, whatever
:func:`skhda.nn.graph.tsne_angle` now gives); the maps are timed. Proxies with labels we may use:

- ``image PROXY``: CKM-UDA at its defaults on an image proxy of
  ``ckm_start_agreement_proxy`` (``um``, ``mu``, ``uu``, ``uu-rev``, ``ueo``,
  ``uoe``); the two fits share stage 1 through ``memory`` (the maps are
  cached under each angle's own function, never shared);
- ``digits METHOD``: ``CKM`` or ``CCN`` at its defaults on the 11 digits
  tuning proxies of ``tune_defaults_ckm_tdcm`` (vectors; never the demo split);
- ``ccn-image SPLIT``: ``CCN(5)`` at its defaults on a USPS cross-task split
  of ``ccn_image_graph_proxy`` (``5-9``, ``evens``, ``odds``: the source
  classes; 16 x 16 images), where the image rule builds its graph on the
  map; the two fits share G through ``memory``.

    OMP_NUM_THREADS=1 python benchmarks/tsne_angle_proxy.py image uu 0,1 DATA
    OMP_NUM_THREADS=1 python benchmarks/tsne_angle_proxy.py digits CKM 0,1
    OMP_NUM_THREADS=1 python benchmarks/tsne_angle_proxy.py ccn-image evens 0,1 DATA
"""

import sys
import tempfile
import time

import threadpoolctl
import torch
from _records import emit
from _usps_splits import usps_split
from ccn_image_graph_proxy import SPLITS
from ckm_start_agreement_proxy import NAMES, load
from tune_defaults_ckm_tdcm import load_task

import skhda.ccn
import skhda.ckm
from skhda.metrics import cluster_accuracy
from skhda.nn.graph import tsne_map

OUT = "benchmarks/results/tsne-angle-proxy.jsonl"
DIGITS = ["59-04", "even-odd", "odd-even", "rand1", "rand2", "rand3",
          "good13", "good15", "good21", "good25", "good31"]
MAP_SECONDS = []


def _timed(X, angle, **kw):
    t = time.perf_counter()
    E = tsne_map(X, angle=angle, **kw)
    MAP_SECONDS.append(time.perf_counter() - t)
    return E


def tsne_map_angle05(X, random_state=0, normalize=True, angle=None):
    """scikit-learn's angle, timed (whatever ``angle`` the caller asks for)."""
    return _timed(X, 0.5, random_state=random_state, normalize=normalize)


def tsne_map_angle08(X, random_state=0, normalize=True, angle=None):
    """The candidate, timed (its own name: ``memory`` never hands one angle's map to the other)."""
    return _timed(X, 0.8, random_state=random_state, normalize=normalize)


ANGLES = {0.5: tsne_map_angle05, 0.8: tsne_map_angle08}


def fit(est, angle, Xs, ys, Xt, yt):
    """Fit ``est`` with every skhda t-SNE map at ``angle``; its scores and seconds."""
    skhda.ckm.tsne_map = skhda.ccn.tsne_map = ANGLES[angle]
    MAP_SECONDS.clear()
    t = time.perf_counter()
    est.fit(Xs, ys, Xt)
    fit_s = time.perf_counter() - t
    acc = float(cluster_accuracy(yt, est.predict(Xt)))
    return {f"acc_{angle}": acc, f"fit_s_{angle}": round(fit_s, 1),
            f"map_s_{angle}": round(sum(MAP_SECONDS), 1), f"maps_{angle}": len(MAP_SECONDS)}


def main(kind, what, seeds, data_dir="../shared/data"):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    if kind == "image":
        d = load(what, data_dir)
        tasks = [(NAMES[what], d.X_source, d.y_source, d.X_target, d.y_target)]
    elif kind == "ccn-image":
        name = next(name for name in SPLITS if name.startswith(f"USPS {what} "))
        tasks = [(name, *usps_split(data_dir, *SPLITS[name]))]
    else:
        tasks = [(f"digits {name}", *load_task(name)) for name in DIGITS]
    for name, Xs, ys, Xt, yt in tasks:
        for seed in seeds:
            memory = tempfile.mkdtemp(prefix="skhda-angle-") if kind != "digits" else None
            method = {"image": "CKM", "ccn-image": "CCN"}.get(kind, what)
            rec = {"task": name, "method": method, "seed": seed}
            cls = skhda.ckm.CKM if method == "CKM" else skhda.ccn.CCN
            kw = {"memory": memory} if memory else {}
            if kind == "ccn-image":   # G as recorded: no jitter (the default before this session)
                kw["similarity"] = skhda.ccn.SimilarityNetwork(augment=0.0)
            for angle in (0.5, 0.8):
                est = cls(n_clusters=len(set(yt.tolist())), random_state=seed, device="cpu", **kw)
                rec.update(fit(est, angle, Xs, ys, Xt, yt))
                if method == "CKM":
                    rec[f"init_{angle}"] = est.init_
                    rec[f"agreement_{angle}"] = est.start_agreement_
                elif kind == "ccn-image":
                    rec[f"graph_{angle}"] = est.target_graph_
                    rec[f"agreement_{angle}"] = est.target_agreement_
            emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")], *sys.argv[4:5])
