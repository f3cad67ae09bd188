"""RankingEvaluator must agree with NeuralKG's link_predict (no ties) and fix its tie handling."""

from __future__ import annotations

import argparse
import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

# aliased so pytest does not try to collect it as a test class
from neuralkg.data.Sampler import TestSampler as NeuralKGTestSampler
from neuralkg.eval_task import link_predict
from neuralkg.model import ComplEx, DistMult, RotatE, SimplE, TransE, TransH, TransR

from neuralkg_distil.evaluation.ranking import FilterIndex, RankingEvaluator
from neuralkg_distil.kge.scoring import scorer_for

NUM_ENT, NUM_REL, EMB_DIM = 23, 2, 10
MODEL_CLASSES = {
    "TransE": TransE,
    "TransH": TransH,
    "RotatE": RotatE,
    "DistMult": DistMult,
    "ComplEx": ComplEx,
    "SimplE": SimplE,
    "TransR": TransR,  # no fast scorer: exercises the get_score fallback
}


def make_graph(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(all true triples, test triples); few entities so every (h, r) has several tails."""
    g = torch.Generator().manual_seed(seed)
    triples = torch.stack(
        [
            torch.randint(NUM_ENT, (140,), generator=g),
            torch.randint(NUM_REL, (140,), generator=g),
            torch.randint(NUM_ENT, (140,), generator=g),
        ],
        dim=1,
    )
    triples = torch.unique(triples, dim=0)
    perm = torch.randperm(triples.shape[0], generator=g)
    return triples, triples[perm[:41]]


def neuralkg_batch(all_true: torch.Tensor, test: torch.Tensor) -> dict:
    """The label batch NeuralKG's own TestSampler builds for ``test``."""
    fake = types.SimpleNamespace(
        args=argparse.Namespace(num_ent=NUM_ENT),
        get_all_true_triples=lambda: [tuple(x) for x in all_true.tolist()],
    )
    return NeuralKGTestSampler(fake).sampling([tuple(x) for x in test.tolist()])


def make_model(name: str, norm_flag: bool = False) -> torch.nn.Module:
    torch.manual_seed(7)
    args = argparse.Namespace(
        num_ent=NUM_ENT, num_rel=NUM_REL, emb_dim=EMB_DIM, margin=4.0, norm_flag=norm_flag
    )
    model = MODEL_CLASSES[name](args)
    if name == "SimplE":
        with torch.no_grad():  # stay clear of the [-20, 20] clamp, which creates ties
            for p in model.parameters():
                p.mul_(0.3)
    # float64 so NeuralKG's broadcast scores and ours order candidates identically
    return model.double().eval()


def assert_no_near_ties(model: torch.nn.Module, test: torch.Tensor) -> None:
    with torch.no_grad():
        for mode in ("tail_predict", "head_predict"):
            scores = model.get_score({"positive_sample": test}, mode)
            gaps = scores.sort(dim=1).values.diff(dim=1)
            assert gaps.min() > 1e-9, "test setup must have no (near-)tied scores"


CASES = [(n, False) for n in MODEL_CLASSES] + [("TransH", True)]
CASE_IDS = [f"{n}-norm" if f else n for n, f in CASES]


@pytest.mark.parametrize("ties", ["realistic", "optimistic", "pessimistic"])
@pytest.mark.parametrize(("name", "norm_flag"), CASES, ids=CASE_IDS)
def test_matches_neuralkg_link_predict_without_ties(name: str, norm_flag: bool, ties: str) -> None:
    all_true, test = make_graph()
    model = make_model(name, norm_flag)
    assert_no_near_ties(model, test)
    batch = neuralkg_batch(all_true, test)
    with torch.no_grad():
        want = link_predict(batch, model, prediction="all")

    evaluator = RankingEvaluator(
        FilterIndex.from_triples(all_true, NUM_ENT, NUM_REL), batch_size=8, ties=ties
    )
    got = evaluator.ranks(model, test)
    assert got.dtype == want.dtype == torch.float32
    assert torch.equal(got, want)
    assert (want > 1).any() and (want < NUM_ENT / 2).any(), "ranks should be non-trivial"

    metrics = evaluator.evaluate(model, test)
    # NeuralKG's test_step / get_results formulas, before its rounding
    count = want.numel()
    assert metrics["mr"] == pytest.approx(want.sum().item() / count, rel=1e-12)
    assert metrics["mrr"] == pytest.approx(torch.sum(1.0 / want).item() / count, rel=1e-6)
    for k in (1, 3, 10):
        assert metrics[f"hits@{k}"] == torch.numel(want[want <= k]) / count
    assert all(type(v) is float for v in metrics.values())


def test_filtering_changes_ranks() -> None:
    """Guard for the test above: with an empty filter the ranks must differ."""
    all_true, test = make_graph()
    model = make_model("ComplEx")
    want = link_predict(neuralkg_batch(all_true, test), model, prediction="all")
    unfiltered = RankingEvaluator(FilterIndex.from_triples(test[:0], NUM_ENT, NUM_REL))
    got = unfiltered.ranks(model, test)
    assert (got >= want).all() and (got > want).any()


def test_all_equal_scores_give_expected_rank_under_ties() -> None:
    all_true, test = make_graph()
    torch.manual_seed(0)
    args = argparse.Namespace(num_ent=NUM_ENT, num_rel=NUM_REL, emb_dim=EMB_DIM, margin=4.0)
    model = DistMult(args).eval()
    with torch.no_grad():
        model.ent_emb.weight.zero_()  # every score is exactly 0
    batch = neuralkg_batch(all_true, test)
    # candidates = entities not filtered out: non-true ones plus the target itself
    candidates = torch.cat(
        [NUM_ENT - batch["tail_label"].sum(1) + 1, NUM_ENT - batch["head_label"].sum(1) + 1]
    )
    index = FilterIndex.from_triples(all_true, NUM_ENT, NUM_REL)

    realistic = RankingEvaluator(index, ties="realistic").ranks(model, test)
    torch.testing.assert_close(realistic, (candidates + 1) / 2)
    optimistic = RankingEvaluator(index, ties="optimistic").ranks(model, test)
    torch.testing.assert_close(optimistic, torch.ones_like(candidates))
    pessimistic = RankingEvaluator(index, ties="pessimistic").ranks(model, test)
    torch.testing.assert_close(pessimistic, candidates)

    neuralkg = link_predict(batch, model, prediction="all")
    assert not torch.equal(neuralkg, realistic)


class TableScorer:
    """A hand-written Scorer: row scores depend only on the known entity."""

    def __init__(self, tails: torch.Tensor, heads: torch.Tensor) -> None:
        self.tails, self.heads = tails, heads

    def score_tails(self, h, r):
        return self.tails[h].clone()

    def score_heads(self, r, t):
        return self.heads[t].clone()


def test_nan_scores_rank_worst_and_filtering_by_hand() -> None:
    nan = float("nan")
    known = torch.tensor([[0, 0, 1], [0, 0, 2], [3, 0, 1]])
    tails = torch.zeros(5, 5)
    tails[0] = torch.tensor([0.9, 0.5, 0.95, nan, 0.7])
    heads = torch.zeros(5, 5)
    heads[1] = torch.tensor([nan, 0.1, 0.2, 0.3, 0.4])
    evaluator = RankingEvaluator(FilterIndex.from_triples(known, 5, 1), hits=(1, 3))
    ranks = evaluator.ranks(TableScorer(tails, heads), torch.tensor([[0, 0, 1]]))
    # tail: entity 2 is filtered, 3 is NaN, so only 0 and 4 beat 0.5 -> rank 3
    # head: the target's own score is NaN -> worst rank, num_ent
    assert ranks.tolist() == [3.0, 5.0]
    assert evaluator.evaluate(TableScorer(tails, heads), torch.tensor([[0, 0, 1]])) == {
        "mr": 4.0,
        "mrr": (1 / 3 + 1 / 5) / 2,
        "hits@1": 0.0,
        "hits@3": 0.5,
    }


def test_target_not_in_index_is_still_ranked() -> None:
    tails = torch.tensor([[0.1, 0.9, 0.3]]).repeat(3, 1)
    index = FilterIndex.from_triples(torch.tensor([[0, 0, 1]]), 3, 1)
    ranks = RankingEvaluator(index, ties="optimistic").ranks(
        TableScorer(tails, tails), torch.tensor([[0, 0, 2]])
    )
    # tail: entity 1 is filtered, so target 2 (0.3) is best;
    # head: nothing is known for (?, 0, 2), so target 0 (0.1) is beaten by both others
    assert ranks.tolist() == [1.0, 3.0]


def test_batching_scorer_input_and_progress_do_not_change_ranks() -> None:
    all_true, test = make_graph(seed=3)
    model = make_model("RotatE")
    index = FilterIndex.from_triples(all_true, NUM_ENT, NUM_REL)
    base = RankingEvaluator(index, batch_size=1000).ranks(model, test)
    for bs in (1, 5):
        torch.testing.assert_close(RankingEvaluator(index, batch_size=bs).ranks(model, test), base)
    scorer = scorer_for(model, chunk_size=3)
    torch.testing.assert_close(
        RankingEvaluator(index, batch_size=6).ranks(scorer, test, progress=True), base
    )
    assert RankingEvaluator(index).ranks(model, test[:0]).numel() == 0


def test_metrics_static() -> None:
    ranks = torch.tensor([1.0, 2.0, 4.0, 10.5])
    m = RankingEvaluator.metrics(ranks, hits=(1, 10))
    assert m == {
        "mr": pytest.approx(17.5 / 4),
        "mrr": pytest.approx((1 + 0.5 + 0.25 + 1 / 10.5) / 4),
        "hits@1": 0.25,
        "hits@10": 0.75,
    }


def test_rejects_bad_settings() -> None:
    index = FilterIndex.from_triples(torch.tensor([[0, 0, 1]]), 3, 1)
    with pytest.raises(ValueError):
        RankingEvaluator(index, ties="average")
    with pytest.raises(ValueError):
        RankingEvaluator(index, batch_size=0)
    with pytest.raises(ValueError):
        FilterIndex.from_triples(torch.tensor([[0, 1, 1]]), 3, 1)
    with pytest.raises(TypeError):
        RankingEvaluator(index).ranks(object(), torch.tensor([[0, 0, 1]]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 6)), max_size=40
    ),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2)), min_size=1, max_size=12),
    # 2**32 entities pushes the head keys past the 1-D packing limit (the other code path)
    st.sampled_from([7, 2**32]),
)
def test_filter_index_matches_brute_force(triples, queries, num_ent) -> None:
    index = FilterIndex.from_triples(
        torch.tensor(triples, dtype=torch.long).reshape(-1, 3), num_ent=num_ent, num_rel=3
    )
    a = torch.tensor([q[0] for q in queries])
    r = torch.tensor([q[1] for q in queries])

    rows, cols = index.tails_of(a, r)
    got = sorted(zip(rows.tolist(), cols.tolist()))
    want = sorted({(b, t) for b, (h, rr) in enumerate(queries) for (x, y, t) in triples if (x, y) == (h, rr)})
    assert got == want

    rows, cols = index.heads_of(r, a)  # the same ids read as tails
    got = sorted(zip(rows.tolist(), cols.tolist()))
    want = sorted({(b, h) for b, (t, rr) in enumerate(queries) for (h, y, x) in triples if (y, x) == (rr, t)})
    assert got == want
