"""Data sets for heterogeneous domain adaptation and transferable clustering.

Nothing in this subpackage downloads anything:

- :func:`load_digits_transfer` builds source/target problems from the 8x8
  digits bundled with scikit-learn (the package's default data);
- :func:`make_domain_shift_blobs` generates synthetic shifted Gaussian clusters;
- the ``load_*`` file loaders read benchmark files that the user holds locally:
  the original distributions (IDX, ``.h5``, ``.mat``) and the ``.npz`` copies
  that the benchmark tasks read from ``$SKHDA_DATA_DIR``.
"""

from ._benchmark import (
    BENCHMARK_FILES,
    benchmark_data_dir,
    benchmark_file,
    load_mnist,
    load_office_caltech,
    load_office_caltech_task,
    load_omniglot,
    load_usps,
    resize_images,
)
from ._digits import load_digits_transfer
from ._local import (
    load_benchmark_pair,
    load_mnist_idx,
    load_npz_dataset,
    load_office_caltech_mat,
    load_usps_h5,
)
from ._synthetic import make_domain_shift_blobs

__all__ = [
    "BENCHMARK_FILES",
    "benchmark_data_dir",
    "benchmark_file",
    "load_mnist",
    "load_office_caltech",
    "load_office_caltech_task",
    "load_omniglot",
    "load_usps",
    "resize_images",
    "load_benchmark_pair",
    "load_digits_transfer",
    "load_mnist_idx",
    "load_npz_dataset",
    "load_office_caltech_mat",
    "load_usps_h5",
    "make_domain_shift_blobs",
]
