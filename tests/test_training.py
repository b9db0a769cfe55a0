"""The skorch training core: domain batch iterator, DomainNet, schedules, nn pieces."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from skhda._training import (
    DomainBatchIterator,
    DomainDataset,
    LinearSchedule,
    PeriodicRefresh,
    batched_apply,
    make_net,
)
from skhda.nn import (
    ConvDecoder,
    ConvEncoder,
    DomainDiscriminator,
    DomainEncoder,
    GradientReversal,
    MLPEncoder,
    RandomAffine,
    dann_coefficient,
    domain_adversarial_loss,
    domain_confusion_loss,
    enumerate_pairs,
    make_decoder,
    make_encoder,
    nt_xent_loss,
    reconstruction_loss,
)


def _ds(ns=10, nt=4):
    return DomainDataset(source={"X": torch.arange(ns).float()[:, None], "y": torch.arange(ns)},
                         target={"X": 100 + torch.arange(nt).float()[:, None]})


def test_iterator_pairs_domains_and_cycles_the_smaller():
    it = DomainBatchIterator(_ds(11, 4), batch_size=3, seed=0)
    batches = [b for b, _ in it]
    assert len(batches) == len(it) == 4              # ceil(11 / 3), source leads
    seen = torch.cat([b.source.y for b in batches])
    assert sorted(seen.tolist()) == list(range(11))  # each source row once per epoch
    assert [len(b.source.X) for b in batches] == [3, 3, 3, 2]
    assert all(len(b.target.X) == 3 for b in batches)   # target cycled, full batches
    for b in batches:                                   # rows stay aligned
        np.testing.assert_array_equal(b.source.X[:, 0].long(), b.source.y)
        assert len(set(b.target.X[:, 0].tolist())) == 3   # no repeats inside a batch


def test_iterator_per_part_batch_sizes_and_small_parts():
    it = DomainBatchIterator(_ds(10, 40), batch_size=4, batch_sizes={"target": 12}, seed=1)
    assert len(it) == 4          # target needs ceil(40/12)=4 > source's ceil(10/4)=3
    sizes = [(len(b.source.X), len(b.target.X)) for b, _ in it]
    assert sizes[0] == (4, 12) and sizes[-1][1] == 4   # target leads: short last batch
    it = DomainBatchIterator(_ds(3, 40), batch_size=8, seed=1)
    assert all(len(b.source.X) == 3 for b, _ in it)    # a part smaller than a batch: whole


def test_iterator_seed_and_steps_per_epoch():
    a = [b.source.y.tolist() for b, _ in DomainBatchIterator(_ds(), batch_size=4, seed=5)]
    b = [b.source.y.tolist() for b, _ in DomainBatchIterator(_ds(), batch_size=4, seed=5)]
    assert a == b
    it = DomainBatchIterator(_ds(), batch_size=4, steps_per_epoch=7, seed=0)
    assert sum(1 for _ in it) == 7
    assert len(DomainBatchIterator(_ds(10, 4), batch_size=4, drop_last=True)) == 2


def test_dataset_validation():
    with pytest.raises(ValueError, match="different lengths"):
        DomainDataset(source={"X": torch.zeros(3, 2), "y": torch.zeros(4)})
    with pytest.raises(ValueError):
        DomainDataset()


class _TwoTerms(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 2)

    def embed(self, x, domain):
        return self.lin(x)

    def forward(self, batch):
        return {"ce": F.cross_entropy(self.lin(batch.source.X), batch.source.y % 2),
                "reg": self.lin.weight.pow(2).sum()}


def test_domain_net_logs_each_term_and_weights_them():
    seen = []

    class Spy(Callback):
        def on_batch_end(self, net, batch=None, training=False, loss=None, **kw):
            seen.append(float(loss.detach()))

    net = make_net(_TwoTerms(), epochs=3, batch_size=4, lr=0.01, device="cpu", seed=0,
                   loss_weights={"reg": 0.0}, callbacks=[Spy()])
    net.fit(_ds())
    h = net.history
    assert len(h) == 3
    assert {"train_ce", "train_reg", "train_loss", "dur"} <= set(h[-1])
    # with weight 0 the loss is the ce term alone
    batch = next(iter(DomainBatchIterator(_ds(), batch_size=10, shuffle=False)))[0]
    terms = net.module_(batch)
    assert math.isclose(float(net.get_loss(terms, training=False).detach()),
                        float(terms["ce"].detach()),
                        rel_tol=1e-6)
    assert len(seen) == 3 * 3


def test_set_params_updates_the_loss_weights_of_a_fitted_net():
    net = make_net(_TwoTerms(), epochs=1, batch_size=4, lr=0.01, device="cpu", seed=0,
                   loss_weights={"reg": 0.0})
    net.fit(_ds())
    net.set_params(loss_weights={"reg": 2.0})
    assert net.loss_weights_ == {"reg": 2.0}
    net.partial_fit(_ds())
    assert net.loss_weights_ == {"reg": 2.0}


def test_domain_net_rejects_plain_arrays():
    net = make_net(_TwoTerms(), epochs=1, batch_size=4, lr=0.01, device="cpu", seed=0)
    with pytest.raises(TypeError, match="DomainDataset"):
        net.fit(np.zeros((4, 1)), np.zeros(4))


def test_domain_net_skorch_callbacks_and_pickle():
    net = make_net(_TwoTerms(), epochs=50, batch_size=4, lr=0.0, device="cpu", seed=0,
                   callbacks=[EarlyStopping(monitor="train_loss", patience=2)])
    net.fit(_ds())
    assert len(net.history) < 50          # lr=0 never improves: stopped early
    clone = pickle.loads(pickle.dumps(net))
    x = torch.ones(2, 1)
    torch.testing.assert_close(clone.module_.embed(x, "source"), net.module_.embed(x, "source"))


def test_linear_schedule_sets_weights_and_attributes():
    class M(_TwoTerms):
        def __init__(self):
            super().__init__()
            self.grl = GradientReversal(0.0)

    values = []

    class Spy(Callback):
        def on_batch_end(self, net, **kw):
            values.append((net.module_.grl.coeff, net.loss_weights_["reg"]))

    net = make_net(M(), epochs=2, batch_size=5, lr=0.01, device="cpu", seed=0, callbacks=[
        LinearSchedule(dann_coefficient, attribute="grl.coeff"),
        LinearSchedule(lambda p: 1 - p, name="reg"), Spy()])
    net.fit(_ds())
    coeffs = [c for c, _ in values]
    assert coeffs[0] == 0.0 and coeffs == sorted(coeffs) and coeffs[-1] < 1
    assert values[0][1] == 1.0 and values[-1][1] < 1.0


def test_verbose_prints_stage_and_progress(capsys):
    net = make_net(_TwoTerms(), epochs=2, batch_size=4, lr=0.01, device="cpu", seed=0,
                   verbose=1, stage="pretrain", owner="Test")
    net.fit(_ds())
    out = capsys.readouterr()
    assert "stage 'pretrain'" in out.out
    assert "train_ce" in out.out and "train_loss" in out.out


def test_batched_apply_restores_mode():
    m = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    m.train()
    out = batched_apply(m, np.ones((5, 3), np.float32), "cpu", batch_size=2, module=m)
    assert out.shape == (5, 2) and m.training
    np.testing.assert_allclose(out, batched_apply(m, np.ones((5, 3), np.float32), "cpu",
                                                  module=m))


# ------------------------------------------------------------------ nn pieces
def test_gradient_reversal_and_schedule():
    x = torch.ones(3, requires_grad=True)
    (GradientReversal(2.0)(x) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-2.0, -4.0, -6.0]))
    assert dann_coefficient(0.0) == 0.0
    assert math.isclose(dann_coefficient(1.0), 2 / (1 + math.exp(-10)) - 1)


def test_domain_discriminator_loss_reversal_and_schedule():
    torch.manual_seed(0)
    disc = DomainDiscriminator(3, hidden_dims=(), coeff=0.5)
    zs = torch.randn(4, 3, requires_grad=True)
    zt = torch.randn(2, 3)
    loss = disc(zs, zt)
    lin = disc.classifier[0]
    logits = lin(torch.cat([zs, zt])).squeeze(1)
    torch.testing.assert_close(loss, domain_adversarial_loss(logits[:4], logits[4:]))
    loss.backward()
    # the features receive the reversed, scaled gradient of the discriminator's loss
    z = zs.detach().clone().requires_grad_(True)
    domain_adversarial_loss(lin(torch.cat([z, zt])).squeeze(1)[:4],
                            lin(torch.cat([z, zt])).squeeze(1)[4:]).backward()
    torch.testing.assert_close(zs.grad, -0.5 * z.grad)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.discriminator = DomainDiscriminator(1)

        def forward(self, batch):
            return {"loss": self.discriminator(batch.source.X, batch.target.X)}

    net = make_net(M(), epochs=2, batch_size=5, lr=0.01, device="cpu", seed=0,
                   callbacks=[DomainDiscriminator.schedule("discriminator")])
    net.fit(_ds(), None)
    # the schedule ends near 1 at the last step (progress just under 1)
    assert 0.99 < net.module_.discriminator.grl.coeff <= 1.0
    cb = pickle.loads(pickle.dumps(DomainDiscriminator.schedule("d")))  # a fitted net pickles
    assert cb.fn(1.0) == pytest.approx(dann_coefficient(1.0))


def test_domain_discriminator_confusion_gradients():
    """feature_loss="confusion": the classifier learns the domains on detached features,
    the features get the confusion loss' gradient only, weighted by the coefficient."""
    torch.manual_seed(0)
    disc = DomainDiscriminator(3, hidden_dims=(), coeff=0.5, feature_loss="confusion")
    lin = disc.classifier[0]
    zs = torch.randn(4, 3, requires_grad=True)
    zt = torch.randn(2, 3, requires_grad=True)
    loss = disc(zs, zt)
    d = lin(torch.cat([zs, zt])).squeeze(1).detach()
    expected = domain_adversarial_loss(d[:4], d[4:]) + 0.5 * domain_confusion_loss(d)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    # the classifier's gradient is the domain loss' alone ...
    w = lin.weight.detach().clone().requires_grad_(True)
    b = lin.bias.detach().clone().requires_grad_(True)
    z = torch.cat([zs, zt]).detach()
    d2 = (z @ w.T + b).squeeze(1)
    domain_adversarial_loss(d2[:4], d2[4:]).backward()
    torch.testing.assert_close(lin.weight.grad, w.grad)
    torch.testing.assert_close(lin.bias.grad, b.grad)
    # ... and the features' gradient is 0.5 x the confusion loss' (not a reversed domain loss)
    zz = z.clone().requires_grad_(True)
    (0.5 * domain_confusion_loss(lin(zz).squeeze(1))).backward()
    torch.testing.assert_close(torch.cat([zs.grad, zt.grad]), zz.grad)
    with pytest.raises(ValueError, match="feature_loss"):
        DomainDiscriminator(3, feature_loss="flip")


def test_domain_discriminator_confusion_trains_and_aligns():
    """The classifier learns to tell separable domains apart while the features are fixed,
    and the confusion side then moves trainable features until it cannot (loss near log 2)."""
    torch.manual_seed(0)
    zs, zt = torch.randn(64, 2) + 3.0, torch.randn(64, 2) - 3.0
    disc = DomainDiscriminator(2, hidden_dims=(8,), coeff=0.0, feature_loss="confusion")
    opt = torch.optim.Adam(disc.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        disc(zs, zt).backward()
        opt.step()
    with torch.no_grad():
        assert float(disc(zs, zt)) < 0.05                  # the discriminator trains
    shift = torch.zeros(2, requires_grad=True)            # the target's features move
    disc.grl.coeff = 1.0
    opt = torch.optim.Adam([*disc.parameters(), shift], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        disc(zs, zt + shift).backward()
        opt.step()
    with torch.no_grad():
        d = disc.classifier(torch.cat([zs, zt + shift])).squeeze(1)
        assert float(domain_adversarial_loss(d[:64], d[64:])) > 0.5   # near chance, log 2
    assert float((zt + shift).mean(0).sub(zs.mean(0)).norm()) < 1.0   # the means met


def test_domain_confusion_loss_by_hand():
    assert float(domain_confusion_loss(torch.zeros(4))) == pytest.approx(math.log(2))
    # BCE against 1/2 of logit x: log(1 + e^x) - x / 2, even in x and above log 2
    x = torch.tensor([2.0, -2.0])
    assert float(domain_confusion_loss(x)) == pytest.approx(math.log(1 + math.exp(2)) - 1)


def test_unshuffled_whole_parts_are_passed_without_a_copy():
    ds = _ds()
    it = DomainBatchIterator(ds, batch_size=100, shuffle=False, steps_per_epoch=2)
    for batch, _ in it:
        assert batch.source.X is ds.parts["source"]["X"]
        assert batch.target.X is ds.parts["target"]["X"]


def test_enumerate_pairs_matches_a_loop():
    z = torch.randn(4, 3)
    pairs = enumerate_pairs(z)
    assert pairs.shape == (16, 6)
    for i in range(4):
        for j in range(4):
            torch.testing.assert_close(pairs[i * 4 + j], torch.cat([z[i], z[j]]))


def test_losses_hand_computed():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    assert float(reconstruction_loss(torch.zeros(2, 2), x)) == pytest.approx(2.5)
    zero = torch.zeros(2)
    assert float(domain_adversarial_loss(zero, zero)) == pytest.approx(math.log(2))
    big = torch.full((2,), 50.0)
    assert float(domain_adversarial_loss(big, -big)) == pytest.approx(0.0, abs=1e-6)


def test_nt_xent_by_hand():
    z = torch.eye(3)
    # each row: its positive at similarity 1, the 4 others at 0
    expected = -math.log(math.e / (math.e + 4))
    assert float(nt_xent_loss(z, z, temperature=1.0)) == pytest.approx(expected, rel=1e-5)
    assert float(nt_xent_loss(z, 5 * z, temperature=0.01)) == pytest.approx(0.0, abs=1e-6)
    # a view that swaps the rows' partners makes the positives the farthest rows
    assert float(nt_xent_loss(z, z[[1, 2, 0]], temperature=0.1)) > 9.0


def test_random_affine_brightness():
    x = torch.rand(4, 1, 6, 6) + 0.1
    aug = RandomAffine(1.0, rotation=0.0, scale=0.0, shift=0.0, brightness=0.5)
    torch.manual_seed(0)
    ratio = aug(x) / x
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), rtol=1e-4)
    assert ((per_image[:, 0] >= 0.5) & (per_image[:, 0] <= 1.5)).all()
    assert torch.equal(aug.eval()(x), x)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (3, 28, 28), (1, 5, 7)])
def test_conv_encoder_decoder_shapes(shape):
    enc, dec = ConvEncoder(shape, 6), ConvDecoder(6, shape)
    z = enc(torch.zeros(2, *shape))
    assert z.shape == (2, 6) and dec(z).shape == (2, *shape)
    assert isinstance(make_encoder(shape, 6), ConvEncoder)
    assert isinstance(make_encoder((64,), 6), MLPEncoder)
    assert make_decoder((64,), 6)(torch.zeros(2, 6)).shape == (2, 64)


def test_conv_nets_run_channels_last_on_cpu_with_the_same_values(monkeypatch):
    """The CPU speed-up (NHWC layout for oneDNN) changes the layout, not the function."""
    import skhda.nn.encoders as encoders

    torch.manual_seed(0)
    enc, dec = ConvEncoder((1, 16, 16), 6), ConvDecoder(6, (1, 16, 16))
    x = torch.randn(4, 1, 16, 16)
    assert encoders._cpu_channels_last(x).is_contiguous(memory_format=torch.channels_last)
    assert encoders._cpu_channels_last(torch.zeros(2, 3)).shape == (2, 3)   # not 4-d: as is
    z, r = enc(x), dec(enc(x))
    monkeypatch.setattr(encoders, "CPU_CHANNELS_LAST", False)
    torch.testing.assert_close(enc(x), z, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(dec(enc(x)), r, rtol=1e-4, atol=1e-5)


def test_domain_encoder_shared_and_separate():
    shared = MLPEncoder(4, 2)
    enc = DomainEncoder(shared)
    assert enc["source"] is enc["target"] is shared
    het = DomainEncoder({"source": MLPEncoder(4, 2), "target": MLPEncoder(7, 2)})
    assert het(torch.zeros(3, 7), "target").shape == (3, 2)
    with pytest.raises(ValueError, match="Unknown domains"):
        DomainEncoder({"source": shared, "elsewhere": shared})


def test_make_encoder_per_domain_on_request():
    from skhda._base import DAData
    from skhda.baselines import SourceOnly

    est = SourceOnly(embedding_dim=2, hidden_dims=(4,))
    data = DAData(np.zeros((3, 5), np.float32), None, np.zeros((2, 5), np.float32), None,
                  {"source": (5,), "target": (5,)})
    shared = est._make_encoder(data)
    assert shared["source"] is shared["target"]
    split = est._make_encoder(data, per_domain=True)
    assert split["source"] is not split["target"]
    assert split(torch.zeros(2, 5), "target").shape == (2, 2)


def test_iterator_same_size_domains_see_every_row_once():
    ds = DomainDataset(source={"X": torch.arange(10.0)[:, None]},
                       target={"X": 100 + torch.arange(10.0)[:, None]})
    batches = [b for b, _ in DomainBatchIterator(ds, batch_size=4, seed=0)]
    for part in ("source", "target"):
        rows = torch.cat([getattr(b, part).X[:, 0] for b in batches]).tolist()
        assert sorted(rows) == sorted(set(rows)) and len(rows) == 10


def test_iterator_cycled_part_wraps_without_repeats_inside_a_pass():
    ds = DomainDataset(source={"X": torch.arange(10.0)[:, None]},
                       target={"X": torch.arange(7.0)[:, None]})
    batches = [b.target.X[:, 0].tolist() for b, _ in DomainBatchIterator(ds, batch_size=3,
                                                                         seed=2)]
    assert all(len(set(b)) == 3 for b in batches)
    flat = [x for b in batches for x in b]
    assert sorted(flat[:7]) == list(range(7))      # a full pass before any repeat


def test_declared_loss_terms_reject_unknown_weights_and_terms():
    class Declared(nn.Module):
        loss_terms = ("fit", "extra")

        def __init__(self, returns=("fit",)):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.returns = returns

        def forward(self, batch):
            return {t: (batch.source.X.mean() - self.w).pow(2).sum() for t in self.returns}

    common = {"epochs": 1, "batch_size": 5, "lr": 0.1, "device": "cpu", "seed": 0}
    make_net(Declared(), loss_weights={"extra": 2.0}, **common).fit(_ds(), None)
    with pytest.raises(ValueError, match=r"loss_weights names \['fti'\].*\['fit', 'extra'\]"):
        make_net(Declared(), loss_weights={"fti": 2.0}, **common).fit(_ds(), None)
    with pytest.raises(ValueError, match=r"returned loss terms \['other'\]"):
        make_net(Declared(returns=("fit", "other")), **common).fit(_ds(), None)
    with pytest.raises(ValueError, match="LinearSchedule"):
        make_net(Declared(), callbacks=[LinearSchedule(lambda p: p, name="nope")],
                 **common).fit(_ds(), None)


def test_every_part_has_its_row_indices():
    ds = _ds(ns=7, nt=3)
    assert ds.parts["source"]["index"].tolist() == list(range(7))
    given = DomainDataset(part={"X": torch.zeros(2, 1), "index": torch.tensor([5, 9])})
    assert given.parts["part"]["index"].tolist() == [5, 9]
    it = DomainBatchIterator(ds, batch_size=3, seed=0)
    for batch, _ in it:
        torch.testing.assert_close(batch.source.X[:, 0], batch.source.index.float())
        torch.testing.assert_close(batch.target.X[:, 0], 100 + batch.target.index.float())


def test_periodic_refresh_by_step_and_epoch_into_a_buffer():
    class M(nn.Module):
        loss_terms = ("fit",)

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.register_buffer("table", torch.zeros(10))
            self.reads = []

        def forward(self, batch):
            self.reads.append(self.table[batch.source.index].sum().item())
            return {"fit": (self.w - batch.source.X.mean()).pow(2).sum()}

    calls = []

    def compute(net):
        calls.append((len(net.history), len(net.module_.reads)))
        return torch.full((10,), float(len(calls)))

    released = []
    steps = PeriodicRefresh(compute, "table", every=2, release=released.append)
    net = make_net(M(), epochs=2, batch_size=5, lr=0.1, device="cpu", seed=0,
                   callbacks=[steps])
    net.fit(_ds(), None)   # 2 steps per epoch: refresh before steps 0 and 2
    assert calls == [(1, 0), (2, 2)]
    assert net.module_.reads == [5.0, 5.0, 10.0, 10.0]   # 5 rows of value 1, then of 2
    assert released == [net] and steps.compute is None   # nothing kept after training
    pickle.loads(pickle.dumps(steps))   # the local compute / store are gone
    calls.clear()
    epochs = PeriodicRefresh(compute, "table", every=2, unit="epoch", at_start=False)
    make_net(M(), epochs=5, batch_size=5, lr=0.1, device="cpu", seed=0,
             callbacks=[epochs]).fit(_ds(), None)
    assert [c[0] for c in calls] == [3, 5]   # before the 3rd and 5th epochs
    with pytest.raises(ValueError, match="unit"):
        PeriodicRefresh(compute, "table", unit="batch")


def test_dataset_builder_encodes_labels_and_keeps_the_part_order():
    from skhda._base import DAData

    Xs = np.arange(8, dtype=np.float32)[:, None]
    Xt = 10 + np.arange(6, dtype=np.float32)[:, None]
    ys = np.array(["b", "a", "c", "a", "b", "c", "a", "b"])
    yt = np.array(["-1", "c", "-1", "a", "-1", "c"], dtype=object)
    yt[[0, 2, 4]] = -1
    data = DAData(Xs, ys, Xt, yt, {"source": (1,), "target": (1,)})
    classes, codes = data.source_classes()
    assert classes.tolist() == ["a", "b", "c"] and codes.tolist() == [1, 0, 2, 0, 1, 2, 0, 1]
    ds = data.dataset("Xy", labelled=classes)
    assert list(ds.parts) == ["source", "target", "labelled"]
    lab = ds.parts["labelled"]
    assert lab["index"].tolist() == [1, 3, 5] and lab["y"].tolist() == [2, 0, 2]
    assert "y" not in ds.parts["target"] and len(ds.parts["target"]["X"]) == 6
    own, own_codes = data.target_classes()
    assert own.tolist() == ["a", "c"] and own_codes.tolist() == [1, 0, 1]
    only = data.dataset("Xy", target="Xy", labelled=classes)
    assert list(only.parts) == ["source", "target"] and len(only.parts["target"]["X"]) == 3
    ordered = data.dataset(order=("target", "source"), extra={"target": {"g": np.ones(6)}})
    assert list(ordered.parts) == ["target", "source"]
    assert ordered.parts["target"]["g"].shape == (6,)


def test_domain_statistics_estimate_use_and_off_path_layers():
    """DomainStatistics: exact per-domain statistics, loaded on use in eval mode; layers a
    domain's forward does not reach keep theirs; no-op in training and before estimate;
    copies, pickles and state_dict round trips keep them; unknown domains are named."""
    import copy

    from skhda import DomainStatistics

    torch.manual_seed(0)
    enc_s, enc_t = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Sequential(
        nn.Linear(2, 4), nn.BatchNorm1d(4))
    head = nn.BatchNorm1d(4)
    net = nn.ModuleDict({"s": enc_s, "t": enc_t, "h": head})
    net["stats"] = stats = DomainStatistics(enc_s, enc_t, head)
    bn_s, bn_t = enc_s[1], enc_t[1]
    net.eval()
    stats.use("target")                                   # nothing estimated yet: no-op
    torch.testing.assert_close(head.running_mean, torch.zeros(4))
    Xs, Xt = torch.randn(64, 3), torch.randn(80, 2) * 3 + 1
    stats.estimate("source", lambda x: head(enc_s(x)), Xs, "cpu", batch_size=16)
    s_head = head.running_mean.clone()
    torch.testing.assert_close(bn_t.running_mean, torch.zeros(4))   # off the source path
    assert bn_t.num_batches_tracked.item() == 0
    stats.estimate("target", lambda x: head(enc_t(x)), Xt, "cpu", batch_size=16)
    with torch.no_grad():
        exact = enc_t[0](Xt)
    torch.testing.assert_close(bn_t.running_mean, exact.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn_s.running_mean, stats.source_mean_0)   # kept
    assert bn_s.momentum == 0.1                           # momentum restored
    stats.use("source")
    torch.testing.assert_close(head.running_mean, s_head)
    stats.use("target")
    torch.testing.assert_close(head.running_mean, stats.target_mean_2)
    head.running_mean.zero_()                             # someone else wrote the buffers
    stats.use("target")                                   # loaded again, not cached
    torch.testing.assert_close(head.running_mean, stats.target_mean_2)
    net.train()
    stats.use("source")                                   # training: BatchNorm's own statistics
    torch.testing.assert_close(head.running_mean, stats.target_mean_2)
    net.eval()
    # a copy of the whole network keeps its statistics pointing at its own layers
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        clone["stats"].use("source")
        torch.testing.assert_close(clone["h"].running_mean, s_head)
        torch.testing.assert_close(head.running_mean, stats.target_mean_2)   # original untouched
    fresh = nn.ModuleDict({"s": copy.deepcopy(enc_s), "t": copy.deepcopy(enc_t),
                           "h": nn.BatchNorm1d(4)})
    fresh["stats"] = DomainStatistics(fresh["s"], fresh["t"], fresh["h"])
    fresh.load_state_dict(net.state_dict())
    fresh.eval()
    fresh["stats"].use("source")
    torch.testing.assert_close(fresh["h"].running_mean, s_head)
    with pytest.raises(ValueError, match="domain must be one of"):
        stats.use("labelled")
