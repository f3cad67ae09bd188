"""The fast scorers (neuralkg_distil.kge.scoring and the family files) must reproduce NeuralKG's own get_score exactly (to float tolerance)."""

from __future__ import annotations

import argparse

import pytest
import torch

from neuralkg.model import ComplEx, DistMult, RotatE, SimplE, TransE, TransH, TransR

from neuralkg_distil.kge.complex import ComplExScorer
from neuralkg_distil.kge.distmult import DistMultScorer
from neuralkg_distil.kge.rotate import RotatEScorer
from neuralkg_distil.kge.scoring import GetScoreScorer, scorer_for
from neuralkg_distil.kge.simple import SimplEScorer
from neuralkg_distil.kge.transe import TransEScorer
from neuralkg_distil.kge.transh import TransHScorer

NUM_ENT, NUM_REL, EMB_DIM, BATCH = 37, 5, 12, 9
TOL = dict(rtol=1e-4, atol=1e-4)

MODELS = {
    "TransE": (TransE, TransEScorer),
    "TransH": (TransH, TransHScorer),
    "RotatE": (RotatE, RotatEScorer),
    "DistMult": (DistMult, DistMultScorer),
    "ComplEx": (ComplEx, ComplExScorer),
    "SimplE": (SimplE, SimplEScorer),
}
# (model name, TransH norm_flag); norm_flag is only read by TransH.
CASES = [(name, False) for name in MODELS] + [("TransH", True)]
CASE_IDS = [f"{n}-norm" if flag else n for n, flag in CASES]


def make_args(norm_flag: bool = False, **overrides) -> argparse.Namespace:
    args = dict(
        num_ent=NUM_ENT, num_rel=NUM_REL, emb_dim=EMB_DIM, margin=6.0, norm_flag=norm_flag
    )
    args.update(overrides)
    return argparse.Namespace(**args)


def make_model(name: str, norm_flag: bool = False, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = MODELS[name][0](make_args(norm_flag))
    return model.eval()


def make_triples(batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    h = torch.randint(NUM_ENT, (batch,), generator=g)
    r = torch.randint(NUM_REL, (batch,), generator=g)
    t = torch.randint(NUM_ENT, (batch,), generator=g)
    # repeat a relation so TransH's per-relation grouping sees groups of size > 1
    r[: batch // 2] = r[0]
    return torch.stack([h, r, t], dim=1)


def reference(model: torch.nn.Module, triples: torch.Tensor, mode: str) -> torch.Tensor:
    with torch.no_grad():
        return model.get_score({"positive_sample": triples}, mode)


def fast(scorer, triples: torch.Tensor, mode: str) -> torch.Tensor:
    h, r, t = triples.unbind(1)
    with torch.no_grad():
        return scorer.score_tails(h, r) if mode == "tail_predict" else scorer.score_heads(r, t)


@pytest.mark.parametrize("mode", ["tail_predict", "head_predict"])
@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_matches_neuralkg_get_score(name: str, norm_flag: bool, mode: str) -> None:
    model = make_model(name, norm_flag)
    triples = make_triples()
    scorer = scorer_for(model)
    assert type(scorer) is MODELS[name][1]
    got = fast(scorer, triples, mode)
    want = reference(model, triples, mode)
    assert got.shape == (BATCH, NUM_ENT)
    torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("mode", ["tail_predict", "head_predict"])
@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_trained_like_weights_and_margin(name: str, norm_flag: bool, mode: str) -> None:
    """Weights far from the init range (as after training) and a non-default margin."""
    torch.manual_seed(3)
    model = MODELS[name][0](make_args(norm_flag, margin=2.5)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0.0, 0.7)
    triples = make_triples(seed=4)
    torch.testing.assert_close(
        fast(scorer_for(model), triples, mode), reference(model, triples, mode), **TOL
    )


@pytest.mark.parametrize("chunk_size", [1, 5, NUM_ENT + 3])
@pytest.mark.parametrize("mode", ["tail_predict", "head_predict"])
@pytest.mark.parametrize("name", ["TransE", "TransH", "RotatE"])
def test_entity_chunking(name: str, mode: str, chunk_size: int) -> None:
    model = make_model(name)
    triples = make_triples()
    got = fast(scorer_for(model, chunk_size=chunk_size), triples, mode)
    torch.testing.assert_close(got, reference(model, triples, mode), **TOL)


def test_simple_clamp_is_applied() -> None:
    model = make_model("SimplE")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    triples = make_triples()
    want = reference(model, triples, "tail_predict")
    assert (want.abs() == 20).any(), "test setup should push some scores into the clamp"
    torch.testing.assert_close(fast(scorer_for(model), triples, "tail_predict"), want, **TOL)
    torch.testing.assert_close(
        fast(scorer_for(model), triples, "head_predict"),
        reference(model, triples, "head_predict"),
        **TOL,
    )


def test_unknown_model_uses_get_score_fallback() -> None:
    torch.manual_seed(0)
    model = TransR(make_args()).eval()
    scorer = scorer_for(model, chunk_size=4)
    assert isinstance(scorer, GetScoreScorer)
    triples = make_triples()
    for mode in ("tail_predict", "head_predict"):
        torch.testing.assert_close(
            fast(scorer, triples, mode), reference(model, triples, mode), **TOL
        )


def test_subclass_overriding_get_score_takes_the_slow_path() -> None:
    class Shifted(DistMult):
        def get_score(self, batch, mode):
            return super().get_score(batch, mode) + 1.0

    class Plain(DistMult):
        pass

    torch.manual_seed(0)
    shifted = Shifted(make_args()).eval()
    assert isinstance(scorer_for(shifted), GetScoreScorer)
    triples = make_triples()
    torch.testing.assert_close(
        fast(scorer_for(shifted), triples, "tail_predict"),
        reference(shifted, triples, "tail_predict"),
        **TOL,
    )
    assert isinstance(scorer_for(Plain(make_args())), DistMultScorer)


@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_grad_mode_on(name: str, norm_flag: bool) -> None:
    """Scoring outside no_grad still works, matches, and is differentiable."""
    model = make_model(name, norm_flag).train()
    triples = make_triples()
    h, r, t = triples.unbind(1)
    scores = scorer_for(model).score_tails(h, r)
    torch.testing.assert_close(scores.detach(), reference(model, triples, "tail_predict"), **TOL)
    if scores.requires_grad:
        scores.sum().backward()


def test_float64_model_scores_in_float64() -> None:
    model = make_model("ComplEx").double()
    triples = make_triples()
    got = fast(scorer_for(model), triples, "head_predict")
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, reference(model, triples, "head_predict"), rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["tail_predict", "head_predict"])
@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_cuda_matches_cpu_reference(name: str, norm_flag: bool, mode: str) -> None:
    model = make_model(name, norm_flag)
    triples = make_triples()
    want = reference(model, triples, mode)
    model = model.cuda()
    got = fast(scorer_for(model), triples, mode)  # CPU ids: the scorer moves them
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), want, **TOL)


def test_rejects_bad_chunk_size() -> None:
    with pytest.raises(ValueError):
        scorer_for(make_model("RotatE"), chunk_size=0)
