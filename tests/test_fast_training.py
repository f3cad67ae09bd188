"""FastTrainScorer's own scoring of training batches equals NeuralKG's forward, values and gradients.

For the six models with a fast scorer (TransH with and without norm_flag), per-triple negatives
(B, K) and chunk-shared negatives (C, K), head-batch and tail-batch: the positive and negative
scores equal ``model(pos)`` / ``model(pos, neg, mode)``, and so does the ``.grad`` of every
parameter after a backward pass.
"""
from __future__ import annotations


import pytest
import torch

from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.kge.scoring import GetScoreScorer, _Rows, train_scorer_for
from neuralkg_distil.training.batch_scores import FastTrainScorer, expand_shared

from cases import scores_and_grads

NUM_ENT, NUM_REL = 40, 5
CASES = [(name, False) for name in ("TransE", "TransH", "RotatE", "DistMult", "ComplEx", "SimplE")] + [("TransH", True)]
CASE_IDS = [f"{n}-norm" if flag else n for n, flag in CASES]


def make_model(name: str, norm_flag: bool = False, dim: int = 6, dtype=torch.float64, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelSpec(name, dim, NUM_ENT, NUM_REL, margin=4.0, norm_flag=norm_flag)).to(dtype)


def make_batch(rows: int, k: int, mode: str, chunk: int | None = None, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    pos = torch.stack([torch.randint(0, NUM_ENT, (rows,), generator=g), torch.randint(0, NUM_REL, (rows,), generator=g),
                       torch.randint(0, NUM_ENT, (rows,), generator=g)], 1)
    pos[: rows // 2, 1] = pos[0, 1]  # a repeated relation
    negs = torch.randint(0, NUM_ENT, (-(-rows // chunk) if chunk else rows, k), generator=g)
    negs[0, :2] = pos[0, 0 if mode == "head-batch" else 2]  # repeated ids, and a true entity among them
    batch = {"positive_sample": pos, "negative_sample": negs, "mode": mode}
    if chunk:
        batch["neg_chunk_size"] = chunk
    return batch




def neuralkg_reference(model, batch):
    neg = expand_shared(batch) if batch.get("neg_chunk_size") else batch["negative_sample"]
    pos = batch["positive_sample"]
    return scores_and_grads(model, lambda: (model(pos), model(pos, neg, batch["mode"])))


def fast_scores(model, batch):
    def no_forward(*args, **kwargs):
        raise AssertionError("the fast path must not call NeuralKG's forward")

    model.forward = no_forward  # an instance attribute: model(...) would now fail
    try:
        return scores_and_grads(model, lambda: (lambda s: (s.pos, s.neg))(FastTrainScorer()(model, batch)))
    finally:
        del model.forward


def assert_same(got, want, **tol):
    torch.testing.assert_close(got[0], want[0], **tol)
    torch.testing.assert_close(got[1], want[1], **tol)
    assert got[2].keys() == want[2].keys() and got[2]
    for name in want[2]:
        torch.testing.assert_close(got[2][name], want[2][name], **tol, msg=lambda m: f"grad of {name}: {m}")


@pytest.mark.parametrize("mode", ["head-batch", "tail-batch"])
@pytest.mark.parametrize("layout", ["per-triple", "shared"])
@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_scores_and_gradients_equal_neuralkg_forward(name, norm_flag, layout, mode):
    model = make_model(name, norm_flag)
    assert train_scorer_for(model) is not None
    batch = make_batch(10, 7, mode, chunk=4 if layout == "shared" else None)
    assert_same(fast_scores(model, batch), neuralkg_reference(model, batch), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_float32_trained_like_weights(name, norm_flag):
    """Weights far from the init range (SimplE into its clamp), float32, bigger K."""
    model = make_model(name, norm_flag, dim=16, dtype=torch.float32, seed=5)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0.0, 2.0 if name == "SimplE" else 0.7)
    for mode in ("head-batch", "tail-batch"):
        batch = make_batch(33, 25, mode, seed=6)
        assert_same(fast_scores(model, batch), neuralkg_reference(model, batch), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["head-batch", "tail-batch"])
def test_rotate_zero_modulus_has_neuralkg_gradient(mode):
    """A candidate equal to the (rotated) anchor: |0| has gradient 0 in NeuralKG's norm, not inf/NaN."""
    model = make_model("RotatE")
    with torch.no_grad():
        model.rel_emb.weight.zero_()  # phase 0: the identity rotation
    batch = make_batch(6, 3, mode)
    pos = batch["positive_sample"]
    pos[1, 2] = pos[1, 0]  # a positive with h == t: zero distance
    batch["negative_sample"][:, 0] = pos[:, 2] if mode == "head-batch" else pos[:, 0]  # candidate == anchor
    got, want = fast_scores(model, batch), neuralkg_reference(model, batch)
    assert (want[1][:, 0] == model.margin.item()).all() and want[0][1] == model.margin.item()
    assert all(torch.isfinite(g).all() for g in got[2].values())
    assert_same(got, want, rtol=1e-9, atol=1e-9)


def test_one_lookup_per_entity_table():
    """Positives and negatives share one gather (one dense gradient) per entity table."""
    calls = []
    original = _Rows.forward

    def counting(ctx, table, ids):
        calls.append(tuple(table.shape))
        return original(ctx, table, ids)

    model = make_model("SimplE", dtype=torch.float32)
    batch = make_batch(8, 5, "tail-batch")
    _Rows.forward = staticmethod(counting)
    try:
        FastTrainScorer()(model, batch)
    finally:
        _Rows.forward = staticmethod(original)
    assert sorted(calls).count((NUM_ENT, 6)) == 2  # ent_h_emb and ent_t_emb, once each


def test_frozen_teacher_in_inference_mode():
    model = make_model("RotatE", dtype=torch.float32).requires_grad_(False)
    batch = make_batch(8, 5, "head-batch")
    with torch.inference_mode():
        fast = FastTrainScorer()(model, batch)
    with torch.no_grad():
        want = model(batch["positive_sample"], batch["negative_sample"], "head-batch")
    torch.testing.assert_close(fast.neg, want, rtol=1e-5, atol=1e-5)


def test_other_models_and_overridden_forward_use_neuralkg_forward():
    from neuralkg.model import TransE

    class Shifted(TransE):
        def forward(self, triples, negs=None, mode="single"):
            return super().forward(triples, negs, mode) + 1.0

    torch.manual_seed(0)
    shifted = Shifted(make_model("TransE").args).double()
    assert train_scorer_for(shifted) is None
    batch = make_batch(6, 4, "tail-batch")
    got = FastTrainScorer()(shifted, batch)
    torch.testing.assert_close(got.neg, shifted(batch["positive_sample"], batch["negative_sample"], "tail-batch"))
    transr = build_model(ModelSpec("TransR", 6, NUM_ENT, NUM_REL, margin=4.0))
    assert train_scorer_for(transr) is None
    assert GetScoreScorer.score_negatives is None
    got = FastTrainScorer()(transr, batch)
    assert got.neg.shape == (6, 4)


@pytest.mark.parametrize("name", ["TransE", "ComplEx"])
def test_rejects_malformed_negatives(name):
    scorer = train_scorer_for(make_model(name))
    batch = make_batch(6, 4, "tail-batch")
    with pytest.raises(ValueError):
        scorer.score_batch(batch["positive_sample"], batch["negative_sample"][:3], "tail-batch")
    with pytest.raises(ValueError):
        scorer.score_batch(batch["positive_sample"], batch["negative_sample"], "single")


def test_build_optimizer_fuses_adam_only_where_supported():
    from neuralkg_distil.training.optim import build_optimizer

    model = make_model("TransE", dtype=torch.float32)
    adam = build_optimizer(torch.optim.Adam, model.parameters(), 1e-3)
    assert adam.param_groups[0]["fused"] is True
    assert not build_optimizer(torch.optim.Adam, model.parameters(), 1e-3, fused=False).param_groups[0].get("fused")
    rmsprop = build_optimizer(torch.optim.RMSprop, model.parameters(), 1e-3)
    assert isinstance(rmsprop, torch.optim.RMSprop) and not rmsprop.param_groups[0].get("fused")
