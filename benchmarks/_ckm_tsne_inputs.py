"""One CKM-family fit that records the inputs of its t-SNE maps (for the offline CKM checks)."""

import time

import numpy as np

import skhda.ckm as ckm


def fit_recording_tsne_inputs(est, d):
    """``(est, inputs, seconds)``: ``est`` fitted on ``d``, the inputs of its t-SNE maps.

    The inputs are recorded where CKM hands them to :func:`skhda.nn.graph.tsne_map`
    (the L2-normalised pixels beside the encoder features), in call order.
    """
    inputs, original = [], ckm.tsne_map

    def recording(X, *args, **kwargs):
        inputs.append(np.array(X, dtype=np.float64))
        return original(X, *args, **kwargs)

    ckm.tsne_map = recording
    try:
        t = time.perf_counter()
        est.fit(d.X_source, d.y_source, d.X_target)
        seconds = time.perf_counter() - t
    finally:
        ckm.tsne_map = original
    return est, inputs, seconds
