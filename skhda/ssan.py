"""SSAN: simultaneous semantic alignment for heterogeneous domain adaptation.

Li, Xie, Wu, Zhao, Liu and Ding, "Simultaneous Semantic Alignment Network for
Heterogeneous Domain Adaptation" (ACM MM 2020). The setting: a labelled source
with ``d_s`` features, a target with ``d_t`` features (``d_t != d_s`` is the
normal case: SURF -> DeCAF6, text -> image) of which a few rows per class are
labelled, and the same classes in both. The method, as in its section 3:

1. One projector per domain, ``f_S`` and ``f_T`` (``Linear -> LeakyReLU ->
   Linear -> LeakyReLU``, L2-normalised), into a common space of
   ``embedding_dim = 256``, and a shared linear classifier ``C``
   (:class:`skhda.nn.encoders.Projector`).
2. Source supervision ``L_S = CE(C(f_S(x_s)), y_s)`` (equation 1).
3. Implicit semantic correlation transfer (equations 2-4): the soft label
   ``q(k)`` of class ``k`` is the mean tempered softmax ``softmax(C(f_S(x)) / T)``
   of its source rows; ``L_ISC = (1 - alpha) CE(labelled target) + alpha
   L_soft`` with ``L_soft = -mean q(y_l) . log p_l``.
4. Geometric pseudo-labels (equations 5-6): the prototype of class ``k`` is the
   mean feature of its source and labelled target rows; an unlabelled target row
   is pseudo-labelled only when its cosine-nearest prototype agrees with the
   classifier's argmax. They are recomputed at every step from that step's
   features.
5. Explicit semantic alignment (equations 7-8): ``L_ESA = sum_k ||mu_S - mu_T||^2
   + ||mu_S - mu_ST||^2 + ||mu_T - mu_ST||^2`` over the class centroids of the
   source, the target (labelled + pseudo-labelled rows) and their union.
6. Domain adversarial alignment (equation 9): a single-layer domain
   discriminator behind a gradient reversal layer (DANN schedule).
7. ``L = L_S + L_ISC + beta L_ESA + gamma L_D`` (equation 10), minimised by
   SGD (Nesterov momentum 0.9, weight decay 1e-3, lr 0.1, 3000 steps).

When a whole domain fits in ``batch_size`` every step sees all its rows
(full-batch steps, the paper's setting on Office-Caltech): soft labels,
prototypes, pseudo-labels and centroids are then those of the whole data,
refreshed at every step. Larger domains are mini-batched by the domain batch
iterator, and these class statistics are those of the step's batch (classes
missing from a batch are skipped in that step).

Beyond the paper (documented, switchable): ``input_norm="l2"`` scales every
row to unit length inside the model (the paper's preprocessing, so raw SURF
counts, DeCAF activations and tf-idf rows work as they are), and
``row_space=True`` trains the first projector layer in the span of the
training rows of a domain with fewer rows than features (exact on the training
rows; 10x faster on 4096-d DeCAF6 inputs).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._base import BaseDeepDA, Capabilities, DeepMixin, LogitsClassifierMixin, resolve_device
from ._training import DomainDataset, batched_apply
from ._validation import (
    Interval,
    Real,
    StrOptions,
    non_negative_real,
    positive_int,
)
from .nn.alignment import (
    prototype_pseudo_labels,
    semantic_alignment_loss,
    soft_label_loss,
    source_soft_labels,
)
from .nn.encoders import DOMAINS, DomainEncoder, Projector
from .nn.layers import DomainDiscriminator

__all__ = ["SSAN"]


class _InputMap(nn.Module):
    """Flatten, optionally L2-normalise each row, optionally take coordinates in a basis."""

    def __init__(self, l2=True, basis=None, power=1.0):
        super().__init__()
        self.l2 = bool(l2)
        self.power = float(power)
        self.register_buffer("basis", None if basis is None else torch.as_tensor(basis))

    def forward(self, x):
        if self.power != 1.0:   # signed power normalisation (square root: Hellinger)
            x = x.sign() * x.abs().pow(self.power)
        if self.l2:   # images keep their shape (a user encoder may be a conv net)
            norm = x.flatten(1).norm(dim=1).clamp_min(1e-12)
            x = x / norm.view(-1, *([1] * (x.ndim - 1)))
        if self.basis is not None:
            x = x.flatten(1) @ self.basis
        return x


def _row_space_basis(X, input_map):
    """Orthonormal basis (d, r) of the span of the mapped rows, or None when n >= d.

    From the eigenvectors of the ``n x n`` Gram matrix (``n < d``): ``V = X^T U / s``.
    """
    X = input_map(torch.as_tensor(X)).flatten(1).double()
    n, d = X.shape
    if n >= d:
        return None
    evals, U = torch.linalg.eigh(X @ X.T)
    keep = evals > evals.max().clamp_min(1e-300) * n * 1e-12
    if not keep.any():
        return None
    s = evals[keep].sqrt()
    V = X.T @ U[:, keep] / s
    return V.float().numpy()


class _SSANModel(nn.Module):
    """Projectors, shared classifier, discriminator; ``forward`` returns SSAN's loss terms."""

    loss_terms = ("ce", "ce_target", "soft", "esa", "adversarial", "pseudo")

    def __init__(self, projector, inputs, embedding_dim, n_classes, *, alpha, beta, gamma,
                 temperature, pseudo_labels, lambda_pseudo=0.0):
        super().__init__()
        self.inputs = nn.ModuleDict(inputs)
        self.projector = projector
        self.classifier = nn.Linear(embedding_dim, n_classes)
        self.discriminator = (DomainDiscriminator(embedding_dim, hidden_dims=())
                              if gamma > 0 else None)
        self.n_classes = n_classes
        self.alpha, self.beta = float(alpha), float(beta)
        self.temperature = float(temperature)
        self.pseudo_labels = pseudo_labels
        self.lambda_pseudo = float(lambda_pseudo)

    # inference: raw rows in, through the fixed input map
    def embed(self, x, domain):
        return self.projector(self.inputs[domain](x), domain)

    def logits(self, x, domain):
        return self.classifier(self.embed(x, domain))

    def select(self, zu, lu, zl, yl, zs, ys):
        """Pseudo-labels of the unlabelled target rows (``-1``: not selected)."""
        if self.pseudo_labels == "classifier":
            return lu.argmax(1)
        return prototype_pseudo_labels(zu, lu, torch.cat([zs, zl]), torch.cat([ys, yl]),
                                       self.n_classes)

    # training: the dataset already holds the mapped rows
    def forward(self, batch):
        s = batch.source
        zs = self.projector(s.X, "source")
        ls = self.classifier(zs)
        out = {"ce": F.cross_entropy(ls, s.y)}                          # L_S, eq. 1
        empty = zs[:0]
        zl, yl = empty, s.y[:0]
        if "labelled" in batch:
            lab = batch.labelled
            zl = self.projector(lab.X, "target")
            ll = self.classifier(zl)
            yl = lab.y
            out["ce_target"] = F.cross_entropy(ll, yl)                  # L_ISC, eq. 4
            if self.alpha > 0:                                          # L_soft, eqs. 2-3
                q, _ = source_soft_labels(ls.detach(), s.y, self.n_classes, self.temperature)
                out["soft"] = soft_label_loss(ll, yl, q)
        zu = empty
        if "target" in batch:
            zu = self.projector(batch.target.X, "target")
        pseudo = None
        if (self.beta > 0 or self.lambda_pseudo > 0) and self.pseudo_labels != "none" \
                and len(zu):
            lu = self.classifier(zu)
            pseudo = self.select(zu, lu.detach(), zl, yl, zs, s.y)
        if self.beta > 0:                                               # L_ESA, eqs. 5-8
            zt, yt = zl, yl
            if pseudo is not None:
                zt, yt = torch.cat([zl, zu]), torch.cat([yl, pseudo])
            out["esa"] = semantic_alignment_loss(zs, s.y, zt, yt, self.n_classes)
        if self.lambda_pseudo > 0 and pseudo is not None:               # ours: self-training
            sel = pseudo >= 0
            out["pseudo"] = (F.cross_entropy(lu, pseudo.clamp_min(0), reduction="none")
                             * sel).sum() / sel.sum().clamp_min(1)
        if self.discriminator is not None:                              # L_D, eq. 9
            out["adversarial"] = self.discriminator(zs, torch.cat([zl, zu]))
        return out


class _NormalizedEncoder(nn.Module):
    """A user encoder with L2-normalised outputs (SSAN's common space is the unit sphere)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x, domain="target"):
        return F.normalize(self.encoder(x, domain), dim=1)


class SSAN(LogitsClassifierMixin, BaseDeepDA):
    """Simultaneous semantic alignment network (SSAN): HDA with a few target labels.

    Source and target may have different features (``d_s != d_t``, the
    normal case: SURF -> DeCAF6, text -> image); each domain gets its own
    projector into a common L2-normalised space where one linear classifier
    predicts the source classes. The loss (Li et al. 2020, equation 10) is

    ``L = CE(source) + (1 - alpha) CE(labelled target) + alpha L_soft
    + beta L_ESA + gamma L_D``:

    - ``L_soft``: the labelled target predictions against the source class-mean
      soft labels at temperature ``temperature`` (implicit semantic alignment);
    - ``L_ESA``: squared distances between the source, target and joint class
      centroids (explicit semantic alignment); the target centroids use the
      labelled rows and the unlabelled rows whose cosine-nearest class
      prototype agrees with the classifier (pseudo-labels refreshed at every
      step);
    - ``L_D``: a single-layer domain discriminator behind gradient reversal.

    ``y_target`` holds a few labels per class and ``-1`` elsewhere (the
    paper's protocol: 3 per class). With different feature spaces at least
    one labelled target row is required (without one the target projector
    cannot be tied to the classes, and ``fit`` raises a ``ValueError``). With
    the same features and no target labels, SSAN trains without the
    labelled-target terms (``ce_target``, ``soft``) and with one projector for
    both domains: prototypes are then the source class means.

    Parameters
    ----------
    alpha : float, default=0.1
        Share of the soft-label loss in ``L_ISC`` (0: no soft labels, the
        paper's ablation "alpha = 0").
    beta : float, default=0.004
        Weight of the explicit semantic alignment ``L_ESA`` (0: off).
    gamma : float, default=0.1
        Weight of the domain-adversarial loss (0: no discriminator). The paper's
        text says 0.01, the authors' code uses 0.1.
    temperature : float, default=5.0
        Softmax temperature of the source soft labels (1: the ablation "w/o T").
    pseudo_labels : {"agree", "classifier", "none"}, default="agree"
        Which unlabelled target rows enter ``L_ESA``: those where the nearest
        prototype and the classifier agree (the paper), all rows with the
        classifier's label (the ablation "w/o GS"), or none (labelled rows only).
    lambda_pseudo : float, default=0.0
        Weight of a cross-entropy term on the pseudo-labelled target rows
        (self-training; ours, off by default: it confirmed early mistakes and
        lost 20 points on our tuning task D->W, ``doc/benchmarks/ssan.md``).
    input_norm : {"l2", "sqrt-l2"} or None, default="l2"
        "l2": scale every row to unit Euclidean length before its projector (the
        paper's preprocessing; part of the model, applied in ``predict`` and
        ``transform`` too), so that raw bag-of-words counts, DeCAF activations
        or tf-idf rows need no preprocessing. "sqrt-l2": signed square root of
        every entry first (power normalisation; the Hellinger map of counts;
        ours). None: rows as given.
    row_space : bool, default=True
        For a domain with fewer training rows than features, train the first
        projector layer in the span of its training rows (coordinates in an
        orthonormal basis of that span; the weights start as the default ones
        restricted to it). Exact on the training rows, where the component of
        the weights outside the span never enters (no gradient reaches it);
        for new rows their component outside the span is ignored. 4096-d DeCAF6
        target rows with 295 rows train about 10x faster. Not used with
        a user ``encoder``.
    embedding_dim : int, default=256
        Dimension of the common space.
    hidden_dims : sequence of int or "auto", default=(256,)
        Hidden layers of each projector. "auto": one layer of ``(d_in +
        embedding_dim) / 2`` units per domain, as in the authors' code (2176 for
        DeCAF6).
    negative_slope : float, default=0.2
        Slope of the projectors' LeakyReLU.
    encoder : dict of torch.nn.Module, default=None
        ``{"source": ..., "target": ...}`` user projectors mapping rows to
        ``(B, embedding_dim)`` (outputs are L2-normalised), or one module for
        both domains when they share features. None: :class:`~skhda.nn.encoders.Projector`.
    input_shape : tuple or dict, default=None
        Shape of one image when images come flat (rows are flattened anyway).
    epochs : int, default=30
        Epochs of ``steps_per_epoch`` steps (30 x 100 = the paper's 3000 steps).
    steps_per_epoch : int, default=100
        Optimisation steps per epoch (one history row per epoch).
    batch_size : int, default=2048
        Rows per step of each part (source, labelled target, unlabelled
        target); a part with at most this many rows is given whole at every
        step (full-batch steps on Office-Caltech). Larger parts are
        mini-batched (100k-row inputs train in memory per batch); soft labels,
        prototypes, pseudo-labels and centroids then come from each step's
        batch, and classes missing from a batch are skipped in that step.
    lr : float, default=0.1
        SGD learning rate.
    momentum : float, default=0.9
        SGD momentum (Nesterov when > 0).
    weight_decay : float, default=1e-3
    device : str, default="auto"
        ``"auto"``: CUDA when available, else CPU.
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    callbacks : list of skorch callbacks, default=None

    Attributes
    ----------
    classes_ : ndarray
        The source classes; ``predict`` returns labels from them.
    net_ : skhda.DomainNet
        The trained net (``net_.module_``: ``inputs``, ``projector``,
        ``classifier``, ``discriminator``).
    history_ : skorch.History
        Per epoch: ``train_loss`` and each term (``train_ce``,
        ``train_ce_target``, ``train_soft``, ``train_esa``, ``train_adversarial``).
    pseudo_labels_ : ndarray of shape (n_target,)
        After training, the pseudo-label of each fitted target row by the rule
        of ``pseudo_labels`` (a class of ``classes_``, or ``-1`` where the rule
        selects none; labelled rows keep their label).
    n_features_in_ : int

    See Also
    --------
    skhda.baselines.SourceOnly : the source and labelled target rows alone.
    skhda.CCNPlus : shared labels through a pairwise clustering objective.

    References
    ----------
    S. Li, B. Xie, J. Wu, Y. Zhao, C. H. Liu and Z. Ding. Simultaneous semantic
    alignment network for heterogeneous domain adaptation. ACM MM 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skhda import SSAN
    >>> X, y = load_digits(return_X_y=True)
    >>> Xs, ys = X[:900], y[:900]                                   # 64 pixel features
    >>> Xt = X[900:].reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)  # 16
    >>> yt = np.full(len(Xt), -1)
    >>> yt[:30] = y[900:930]                                        # a few target labels
    >>> est = SSAN(epochs=3, random_state=0).fit(Xs, ys, Xt, yt)
    >>> est.predict(Xt).shape, est.transform(Xt).shape
    ((897,), (897, 256))
    """

    _main_stage = "train"

    def _capabilities(self):   # source classes, any target features
        return Capabilities(label_space="shared")

    _parameter_constraints = {
        **BaseDeepDA._parameter_constraints,
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "beta": non_negative_real(),
        "gamma": non_negative_real(),
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "pseudo_labels": [StrOptions({"agree", "classifier", "none"})],
        "lambda_pseudo": non_negative_real(),
        "input_norm": [StrOptions({"l2", "sqrt-l2"}), None],
        "row_space": ["boolean"],
        "hidden_dims": [tuple, list, StrOptions({"auto"})],
        "negative_slope": non_negative_real(),
        "steps_per_epoch": positive_int(),
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": non_negative_real(),
    }

    def __init__(self, *, alpha=0.1, beta=0.004, gamma=0.1, temperature=5.0,
                 pseudo_labels="agree", lambda_pseudo=0.0, input_norm="l2", row_space=True,
                 embedding_dim=256, hidden_dims=(256,), negative_slope=0.2, encoder=None,
                 input_shape=None, epochs=30, steps_per_epoch=100, batch_size=2048, lr=0.1,
                 momentum=0.9, weight_decay=1e-3, device="auto", random_state=None, verbose=0,
                 callbacks=None):
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.temperature = temperature
        self.pseudo_labels = pseudo_labels
        self.lambda_pseudo = lambda_pseudo
        self.input_norm = input_norm
        self.row_space = row_space
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.negative_slope = negative_slope
        self.encoder = encoder
        self.input_shape = input_shape
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # ----------------------------------------------------------------- fit
    def _validate_params(self):
        if isinstance(self.hidden_dims, str):   # "auto": the table alone, then the device
            super(DeepMixin, self)._validate_params()
            self.device_ = resolve_device(self.device)
        else:
            super()._validate_params()

    def _check_params_vs_input(self, data):
        super()._check_params_vs_input(data)
        if data.heterogeneous and not data.has_target_labels:
            raise ValueError(
                f"X_target has {math.prod(data.shapes['target'])} features and X_source "
                f"{math.prod(data.shapes['source'])}, and y_target has no labelled row: with "
                "different feature spaces SSAN needs at least one labelled target row (the "
                "target projector is tied to the classes through them). Pass y_target with a "
                "few labels per class and -1 for the unlabelled rows."
            )

    def _make_projector(self, data):
        """Per-domain projectors and input maps (normalisation, row-space basis).

        One projector for both domains when they share features and no target
        row is labelled (a target projector of its own would have nothing to
        tie it to the classes).
        """
        norm = {None: {"l2": False}, "l2": {"l2": True},
                "sqrt-l2": {"l2": True, "power": 0.5}}[self.input_norm]
        if self.encoder is not None:
            inputs = {d: _InputMap(**norm) for d in DOMAINS}
            return _NormalizedEncoder(self._make_encoder(data, per_domain=True)), inputs
        rows = {"source": data.X_source, "target": data.X_target}
        if not data.heterogeneous and not data.has_target_labels:
            rows = {"shared": np.concatenate([data.X_source, data.X_target])}
        modules, inputs = {}, {}
        for d, X in rows.items():
            d_in = math.prod(X.shape[1:])
            hidden = self.hidden_dims
            if isinstance(hidden, str):   # "auto": the authors' code, one layer of the mean width
                hidden = ((d_in + self.embedding_dim) // 2,)
            proj = Projector(d_in, self.embedding_dim, tuple(hidden), self.negative_slope)
            basis = _row_space_basis(X, _InputMap(**norm)) if self.row_space else None
            if basis is not None:
                proj.restrict_inputs(basis)
            modules[d], inputs[d] = proj, _InputMap(basis=basis, **norm)
        if "shared" in modules:
            modules = modules["shared"]
            inputs = dict.fromkeys(DOMAINS, inputs["shared"])
        return DomainEncoder(modules), inputs

    def _fit_deep(self, data):
        self.classes_, ys = data.source_classes()
        projector, inputs = self._make_projector(data)
        model = _SSANModel(projector, inputs, self.embedding_dim, len(self.classes_),
                           alpha=self.alpha, beta=self.beta, gamma=self.gamma,
                           temperature=self.temperature, pseudo_labels=self.pseudo_labels,
                           lambda_pseudo=self.lambda_pseudo)

        def mapped(X, domain):
            return batched_apply(inputs[domain], X, "cpu")

        Xt = mapped(data.X_target, "target")
        mask = data.labelled_target
        parts = {"source": {"X": mapped(data.X_source, "source"), "y": ys}}
        if mask.any():
            parts["labelled"] = {"X": Xt[mask], "y": data.labelled_codes(self.classes_)}
        if not mask.all():
            parts["target"] = {"X": Xt[~mask]}
        dataset = DomainDataset(**parts)
        # full-batch steps when every part fits in one batch: the rows are then given as
        # they are (their order does not matter to any term)
        full = max(dataset.lengths().values()) <= self.batch_size
        callbacks = [DomainDiscriminator.schedule("discriminator")] if self.gamma > 0 else []
        alpha = float(self.alpha)
        momentum = float(self.momentum)
        self.net_ = self._train_stage(
            "train", model, dataset, self.epochs, steps_per_epoch=self.steps_per_epoch,
            extra_callbacks=callbacks, iterator_train__shuffle=not full,
            loss_weights={"ce_target": 1.0 - alpha, "soft": alpha, "esa": float(self.beta),
                          "adversarial": float(self.gamma), "pseudo": float(self.lambda_pseudo)},
            optimizer=torch.optim.SGD, optimizer__momentum=momentum,
            optimizer__nesterov=momentum > 0, optimizer__weight_decay=float(self.weight_decay),
        )
        self.pseudo_labels_ = self._final_pseudo_labels(data)

    def _final_pseudo_labels(self, data):
        """Pseudo-labels of the fitted target rows by the trained model (whole data at once)."""
        model = self.net_.module_
        Zs = torch.as_tensor(self._embed(data.X_source, "source"))
        Zt = torch.as_tensor(self._embed(data.X_target, "target"))
        logits = torch.as_tensor(batched_apply(model.classifier, Zt, self.net_.device,
                                               module=model))
        mask = torch.as_tensor(data.labelled_target)
        y = torch.full((len(Zt),), -1, dtype=torch.long)
        if mask.any():
            y[mask] = torch.as_tensor(data.labelled_codes(self.classes_))
        if self.pseudo_labels == "none":
            pseudo = y
        else:
            ys = torch.as_tensor(data.source_classes()[1])
            pseudo = torch.where(mask, y, model.select(Zt, logits, Zt[mask], y[mask], Zs, ys))
        pseudo = pseudo.numpy()
        kind = self.classes_.dtype.kind
        out = np.full(len(pseudo), -1, dtype=self.classes_.dtype if kind == "i"
                      else np.int64 if kind == "u" else object)
        out[pseudo >= 0] = self.classes_[pseudo[pseudo >= 0]]
        return out
