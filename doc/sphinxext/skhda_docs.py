"""Helpers of the Sphinx build: gallery order and per-estimator notes.

``API_NOTES`` maps an object's documented name to the lines shown under its
API page (``_templates/autosummary/class.rst``): the headline benchmark
figures, measured, with a link to the page that has the protocol and the
full tables. Update them with the pages in ``doc/benchmarks/``.
"""

from pathlib import Path

# the gallery's reading order; examples not listed come last, by file name
ORDER = [
    "plot_quick_start.py",
    "plot_compare_baselines.py",
    "plot_grid_search_target.py",
    "plot_da_pipeline.py",
    "plot_cross_task_k_unknown.py",
    "plot_transferable_clustering.py",
    "plot_heterogeneous_features.py",
    "plot_what_ckm_learned.py",
    "plot_benchmark_chart.py",
]


class ExampleOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (ORDER.index(name), name) if name in ORDER else (len(ORDER), name)

    def __repr__(self):
        return "ExampleOrder()"


# classes whose pages list their public methods (fit, predict, transform...);
# members inherited from scikit-learn's BaseEstimator are left out
API_MEMBERS = [
    f"skhda.{name}" for name in (
        "CKM", "DECAdapter", "DCNAdapter", "TDCM", "SimilarityNetwork", "CCN", "CCNPlus",
        "SSAN", "XDC", "baselines.TargetClustering", "baselines.SourceTargetClustering",
        "baselines.SourceOnly", "baselines.SourceFeatureClustering",
        "baselines.N2DClustering",
    )
]

_CKM_TASK = ("USPS digits 0-4 -> MNIST digits 5-9, 5 seeds, defaults, target "
             "cluster accuracy")

API_NOTES = {
    "skhda.CKM": [
        f"{_CKM_TASK}: CKM-UDA **0.971 ± 0.003** (spectral clustering of the target "
        "pixels 0.918, k-means 0.593); CKM-SSDA with 3 labelled target rows per class "
        "0.968 ± 0.011 (5 seeds, before SSDA started from the named graph; 0.973 ± 0.002 "
        "after, 2 seeds, CPU). The paper reports 96.1 (UDA) and 98.2 (SSDA, 3 shots) on SVHN -> "
        "MNIST, a task we do not run. Fit: 116 s on a 2-core CPU, 12 s on an H100.",
        ":doc:`/benchmarks/ckm`",
    ],
    "skhda.DECAdapter": [
        f"{_CKM_TASK}: DEC-UDA **0.971 ± 0.002** (CKM-UDA 0.971 ± 0.003; the paper's "
        "DEC-UDA 91.6 on SVHN -> MNIST).",
        ":doc:`/benchmarks/ckm`",
    ],
    "skhda.DCNAdapter": [
        f"{_CKM_TASK}: DCN-UDA **0.967 ± 0.003** (CKM-UDA 0.971 ± 0.003; the paper's "
        "DCN-UDA 90.1 on SVHN -> MNIST).",
        ":doc:`/benchmarks/ckm`",
    ],
    "skhda.TDCM": [
        "Embedded digits, 6 class splits other than the demo's x 2 seeds, defaults (3 "
        "restarts kept by the graph cut): target ACC **0.923 ± 0.054** (k-means 0.796, "
        "spectral 0.829); the demo (seeds 0 / 1 / 2) 0.942 / 0.941 / 0.757.",
        "Synthetic shifted blobs (the paper's protocol, 10 data sets x 3 seeds, 30 epochs): "
        "target ACC **0.984 / 0.982 / 0.997 / 0.988** for K = 2 / 3 / 5 / 10 (paper 0.999 "
        "/ 0.984 / 0.951 / 0.925; k-means fitted on the source 0.93 / 0.81 / 0.82 / 0.74).",
        "MNIST -> USPS (3 seeds, GPU, contrastive and consistency options on): target NMI "
        "0.848 ± 0.003 (ACC 0.918); the paper's 0.91 is its USPS train -> test protocol, "
        "where we measure 0.847 ± 0.019.",
        ":doc:`/benchmarks/tdcm`",
    ],
    "skhda.SimilarityNetwork": [
        "Pair scores on unseen classes: similar-pair precision 0.84-0.89 and recall "
        "0.76-0.80 on MNIST (learned on USPS, 3 seeds); recall only 0.24-0.57 on unseen "
        "Omniglot alphabets, which limits CCN there.",
        ":doc:`/benchmarks/ccn`",
    ],
    "skhda.CCN": [
        "Embedded digits, 6 class splits other than the demo's x 2 seeds, defaults (t-SNE "
        "neighbour graph, 3 nets kept by the graph cut): target ACC **0.946 ± 0.025** "
        "(k-means 0.796, spectral 0.829); with ``n_clusters=100``, 5.0 ± 0.0 dominant "
        "clusters for 5 classes (18 fits); the demo 0.955-0.959.",
        "Omniglot background-small, 4 unseen alphabets, 3 seeds: ACC **0.670** with K "
        "known, **0.661** with ``n_clusters=100`` (k-means 0.392 at K = 100); with "
        "``lambda_contrastive=1`` 0.724 / 0.706. Below the paper's figures "
        "(our G learns from 117 characters, the paper's from 964).",
        ":doc:`/benchmarks/ccn`",
    ],
    "skhda.CCNPlus": [
        "With the domain-adversarial fix (domain confusion on the hidden features), one pass "
        "over both domains with the clustering term and per-domain BatchNorm statistics at "
        "predict: USPS -> MNIST quick protocol (3000 + 3000 training rows, 3 seeds): DANN "
        "**0.939 ± 0.009**, CCN++ **0.944 ± 0.002**, CCN+ **0.933 ± 0.009**, SourceOnly "
        "0.611 ± 0.009.",
        "USPS -> MNIST test, 10 shared digits, full protocol, 3 seeds (CPU): CCN+ "
        "**0.939 ± 0.010**, CCN++ (``adversarial=True``) **0.947 ± 0.010**, DANN 0.953 ± "
        "0.002, against SourceOnly 0.823 ± 0.033 (the issue's goal, SourceOnly + 0.15, is "
        "not met there: +0.12).",
        ":doc:`/benchmarks/ccn`",
    ],
    "skhda.SSAN": [
        "Office-Caltech10, heterogeneous features (SURF <-> DeCAF6), 3 labelled target rows "
        "per class, 5 splits, final model: 91.5-95.6 % on the six SURF/DeCAF6 tasks "
        "(e.g. W->D **95.6 ± 1.8**, SVMt 94.3 on the same splits) and 63.9 ± 4.3 on "
        "DeCAF6 -> SURF; 2-7 points below the paper's SSAN on every task. 3000 steps: "
        "27-82 s of one CPU core.",
        ":doc:`/benchmarks/ssan`",
    ],
    "skhda.XDC": [
        "K not given, 3 seeds: pairwise F **0.859 ± 0.056** on USPS -> MNIST (IPS 0.749 ± "
        "0.120, k-means on pixels 0.456; 11 ± 2 clusters found for 10 digits) and "
        "0.099 ± 0.024 on Omniglot (target 0.60, not met).",
        ":doc:`/benchmarks/xdc`",
    ],
    "skhda.baselines.TargetClustering": [
        "USPS 0-4 -> MNIST 5-9 (target pixels): k-means 0.593, spectral clustering 0.918.",
        ":doc:`/benchmarks/ckm`",
    ],
    "skhda.baselines.N2DClustering": [
        "USPS 0-4 -> MNIST 5-9 (target only), 5 seeds, CPU: N2D-style **0.781 ± 0.030** "
        "(NMI 0.668 ± 0.021; 215 s per fit), against spectral embedding + GMM on the target "
        "pixels (:class:`~skhda.baselines.ManifoldGMM`) 0.960 and CKM-UDA 0.971 ± 0.003.",
        ":doc:`/reproducing` (task ``ckm-usps-mnist``)",
    ],
    "skhda.baselines.SourceOnly": [
        "USPS -> MNIST test, 3 seeds: 0.823 ± 0.033 (CCN+ 0.943 ± 0.004); with "
        "per-domain encoders on Office-Caltech W->D 93.9 ± 2.0 (SSAN 95.6 ± 1.8).",
        ":doc:`/benchmarks/ccn`, :doc:`/benchmarks/ssan`",
    ],
    "skhda.DomainNet": [
        "The skorch core against a hand-written torch loop doing the same steps: ratio "
        "of median times 1.03-1.09 (one domain) and 1.03-1.12 (two domains; target "
        "<= 1.15).",
        ":doc:`/benchmarks/training_overhead`, :doc:`/benchmarks/memory`",
    ],
    "skhda.DomainBatchIterator": [
        "Slices in-memory tensors (no per-sample collation): plain skorch with a "
        "DataLoader takes 1.89x the hand-written loop, the skhda core 1.00-1.09x.",
        ":doc:`/benchmarks/training_overhead`",
    ],
}
