"""
Chart benchmark results against a paper's figures
=================================================

:func:`skhda.plotting.plot_benchmark` draws ``{row: [score of each seed]}``
as bars of the mean with one-std error bars, and the paper's figure for a
row as a red marker.

Left: a small benchmark run here, three seeds of three estimators on the
embedded digits task (source digits 0-4 labelled, target digits 5-9). Right:
TDCM on the paper's synthetic protocol, the figures measured in
:doc:`/benchmarks/tdcm` (target ACC, mean over 10 data sets x 3 seeds, so
drawn without error bars) beside the paper's Table 1.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.cluster import KMeans

from skhda import CKM
from skhda.baselines import SourceFeatureClustering, TargetClustering
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy
from skhda.plotting import plot_benchmark

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0


def make(name, seed):
    if name == "k-means":
        return TargetClustering(KMeans(5, n_init=1, random_state=seed))
    if name == "source features":
        return SourceFeatureClustering(5, epochs=10, random_state=seed)
    return CKM(5, pretrain_epochs=5, epochs=5, random_state=seed)


# %%
# Three seeds per estimator
# -------------------------
results = {}
for name in ["k-means", "source features", "CKM"]:
    results[name] = [
        cluster_accuracy(yt, make(name, seed).fit_predict(Xs, ys, Xt))
        for seed in range(3)
    ]
    print(f"{name:16s} ACC " + " / ".join(f"{a:.3f}" for a in results[name]))

# %%
# The chart
# ---------
tdcm_measured = {"K=2": [0.984], "K=3": [0.982], "K=5": [0.997], "K=10": [0.988]}
tdcm_paper = {"K=2": 0.999, "K=3": 0.984, "K=5": 0.951, "K=10": 0.925}

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plot_benchmark(results, metric="target cluster accuracy", ax=axes[0])
axes[0].set_title("digits 0-4 -> 5-9, 3 seeds (this run)")
axes[0].set_ylim(0, 1)
plot_benchmark(tdcm_measured, paper=tdcm_paper, metric="target ACC", ax=axes[1])
axes[1].set_title("TDCM, synthetic shifted blobs (recorded)")
axes[1].set_ylim(0.8, 1.01)
axes[1].legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize="small")
fig.tight_layout()
plt.show()
