"""The fused CPU kernels of streamed link prediction (neuralkg_distil/evaluation/cpu_kernels.py).

Each family's kernel against full score rows is in the adapter template (tests/cases.py,
``test_streamed_link_prediction_equals_full_rows``); here: exact ties, NaN scores, fewer
candidates than k, clamped scores, the switch and the fallbacks.
"""
from __future__ import annotations

import pytest
import torch

from neuralkg_distil.evaluation import cpu_kernels
from neuralkg_distil.evaluation.ranking import RankingEvaluator, FilterIndex, _filtered_ranks, stream_queries
from neuralkg_distil.kge.scoring import scorer_for
from neuralkg_distil.kge.spec import ModelSpec, build_model

pytestmark = pytest.mark.skipif(not cpu_kernels.available(), reason=f"fused kernels unavailable: {cpu_kernels.unavailable_reason()}")

NUM_ENT, NUM_REL = 500, 4


def _model(name: str, dim: int = 12, seed: int = 0, num_ent: int = NUM_ENT):
    torch.manual_seed(seed)
    return build_model(ModelSpec(name, dim, num_ent, NUM_REL, margin=4.0)).eval()


def _queries(rows: int = 20, seed: int = 1, num_ent: int = NUM_ENT):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randint(0, n, (rows,), generator=g) for n in (num_ent, NUM_REL, num_ent))


def _spy(monkeypatch: pytest.MonkeyPatch, width: int = 64) -> list:
    calls: list = []
    real = cpu_kernels.stream_form
    monkeypatch.setattr(cpu_kernels, "stream_form", lambda *a, **kw: calls.append(1) or real(*a, **kw, tile_width=width))
    return calls


@pytest.mark.parametrize("ties", ["realistic", "optimistic", "pessimistic"])
@pytest.mark.parametrize("name", ["TransE", "DistMult", "RotatE"])
def test_duplicate_entities_tie_with_the_target_exactly(name, ties, monkeypatch) -> None:
    """Two copies of each target's embedding: the three tie policies see exactly two ties."""
    model = _model(name)
    h, r, t = _queries(rows=6)
    with torch.no_grad():
        for i, target in enumerate(t.tolist()):
            for copy in (450 + 2 * i, 451 + 2 * i):
                model.ent_emb.weight[copy] = model.ent_emb.weight[target]
    scorer = scorer_for(model)
    calls = _spy(monkeypatch)
    with torch.no_grad():
        _, _, ranks = stream_queries(scorer, True, h, r, NUM_ENT, targets=t, ties=ties)
        _, _, optimistic = stream_queries(scorer, True, h, r, NUM_ENT, targets=t, ties="optimistic")
        _, _, pessimistic = stream_queries(scorer, True, h, r, NUM_ENT, targets=t, ties="pessimistic")
        full = scorer.score_tails(h, r)
    assert calls
    empty = (torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))
    torch.testing.assert_close(ranks, _filtered_ranks(full, t, empty, ties))
    assert torch.equal(pessimistic - optimistic, torch.full_like(ranks, 2.0))


def test_nan_scores_never_enter_the_top_k_nor_outrank_the_target(monkeypatch) -> None:
    model = _model("TransE")
    h, r, t = _queries()
    t = torch.where(t == 7, t + 1, t)
    with torch.no_grad():
        model.ent_emb.weight[7] = float("nan")
    calls = _spy(monkeypatch)
    with torch.no_grad():
        values, ids, ranks = stream_queries(scorer_for(model), True, h, r, NUM_ENT, k=NUM_ENT, targets=t)
        full = scorer_for(model).score_tails(h, r)
    assert calls
    assert not (ids == 7).any()
    assert (ids[:, -1] == -1).all() and torch.isinf(values[:, -1]).all()  # 499 real candidates for 500 places
    empty = (torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))
    torch.testing.assert_close(ranks, _filtered_ranks(full, t, empty, "realistic"))


def test_fewer_candidates_than_k_leave_minus_inf_and_minus_one(monkeypatch) -> None:
    model = _model("ComplEx", num_ent=20)
    h, r, t = _queries(rows=3, num_ent=20)
    known = (torch.zeros(15, dtype=torch.long), torch.arange(15))  # query 0: 15 known tails
    calls = _spy(monkeypatch, width=8)
    with torch.no_grad():
        values, ids, _ = stream_queries(scorer_for(model), True, h, r, 20, k=12, known=known)
    assert calls
    assert torch.equal(ids[0, 5:], torch.full((7,), -1)) and torch.isinf(values[0, 5:]).all()
    assert sorted(ids[0, :5].tolist()) == list(range(15, 20))
    assert (ids[1:] >= 0).all()
    assert (values[:, :-1] >= values[:, 1:]).all()  # best first


@pytest.mark.parametrize("name", ["TransE", "TransH", "ComplEx", "RotatE"])
def test_every_dimension_scores_as_the_full_rows(name, monkeypatch) -> None:
    """Every score at every width: the column loops go by groups of 8 / 4 / 2 / 1, and TransE at
    8 dims has its own one-pass loop (``finished_l1_8``)."""
    calls = _spy(monkeypatch, width=32)  # three full tiles and a partial one
    empty = (torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))
    for dim in (1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 24, 33):
        model = _model(name, dim=dim, num_ent=100)
        h, r, t = _queries(rows=9, num_ent=100)
        calls.clear()
        with torch.no_grad():
            scorer = scorer_for(model)
            values, ids, ranks = stream_queries(scorer, True, h, r, 100, k=100, targets=t)
            full = scorer.score_tails(h, r)
        assert calls, dim
        torch.testing.assert_close(values, torch.gather(full, 1, ids), rtol=1e-5, atol=1e-5, msg=f"dim {dim}")
        torch.testing.assert_close(values, full.sort(1, descending=True).values, rtol=1e-5, atol=1e-5, msg=f"dim {dim}")
        assert (values[:, :-1] >= values[:, 1:]).all(), dim
        torch.testing.assert_close(ranks, _filtered_ranks(full, t, empty, "realistic"), msg=f"dim {dim}")


def test_clamped_scores_tie_as_the_torch_path_does(monkeypatch) -> None:
    """SimplE clamps its scores to [-20, 20]: many candidates tie at the clamp."""
    model = _model("SimplE")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(200.0)  # scores far beyond the clamp
    h, r, t = _queries()
    calls = _spy(monkeypatch)
    with torch.no_grad():
        _, _, ranks = stream_queries(scorer_for(model), True, h, r, NUM_ENT, targets=t, ties="pessimistic")
        full = scorer_for(model).score_tails(h, r)
    assert calls and (full.abs() == 20).float().mean() > 0.3
    empty = (torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))
    torch.testing.assert_close(ranks, _filtered_ranks(full, t, empty, "pessimistic"))


def test_switched_off_or_unusable_means_the_torch_path(monkeypatch) -> None:
    model = _model("TransE")
    h, r, t = _queries()
    scorer = scorer_for(model)
    calls = _spy(monkeypatch)
    with torch.no_grad():
        fused = stream_queries(scorer, True, h, r, NUM_ENT, k=5, targets=t)
        monkeypatch.setenv("NEURALKG_DISTIL_KERNELS", "0")
        assert not cpu_kernels.available() and "NEURALKG_DISTIL_KERNELS" in cpu_kernels.unavailable_reason()
        plain = stream_queries(scorer, True, h, r, NUM_ENT, k=5, targets=t)
    assert len(calls) == 1
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    monkeypatch.delenv("NEURALKG_DISTIL_KERNELS")
    # Under autograd, or float64 tables, there is no query form: the torch path scores them.
    assert scorer.query_form(True, h, r) is None  # grad mode is on here
    with torch.no_grad():
        assert scorer.query_form(True, h, r) is not None
        assert scorer_for(_model("TransE").double()).query_form(True, h, r) is None


def test_the_evaluator_gives_the_same_metrics_with_and_without_kernels(monkeypatch) -> None:
    model = _model("RotatE", dim=8)
    g = torch.Generator().manual_seed(2)
    triples = torch.stack([torch.randint(0, NUM_ENT, (300,), generator=g), torch.randint(0, NUM_REL, (300,), generator=g),
                           torch.randint(0, NUM_ENT, (300,), generator=g)], 1)
    evaluator = RankingEvaluator(FilterIndex.from_triples(triples, NUM_ENT, NUM_REL), batch_size=64)
    calls = _spy(monkeypatch)
    fused = evaluator.ranks(model, triples[:100])
    assert calls
    monkeypatch.setenv("NEURALKG_DISTIL_KERNELS", "0")
    plain = evaluator.ranks(model, triples[:100])
    assert (fused == plain).float().mean() > 0.95  # a rank may differ only at a float32 near-tie
    for key, value in RankingEvaluator.metrics(plain).items():
        assert RankingEvaluator.metrics(fused)[key] == pytest.approx(value, rel=1e-3)


def test_wide_dot_products_stay_on_the_blas_path(monkeypatch) -> None:
    """Above DOT_MAX_WIDTH query columns a matrix product beats the kernel: the torch path runs."""
    narrow, wide = _model("DistMult", dim=cpu_kernels.DOT_MAX_WIDTH), _model("DistMult", dim=cpu_kernels.DOT_MAX_WIDTH + 1)
    h, r, t = _queries()
    calls = _spy(monkeypatch)
    with torch.no_grad():
        stream_queries(scorer_for(narrow), True, h, r, NUM_ENT, k=3)
        assert len(calls) == 1
        stream_queries(scorer_for(wide), True, h, r, NUM_ENT, k=3)
        assert len(calls) == 1
    # Distances have no BLAS form: any width runs fused.
    with torch.no_grad():
        stream_queries(scorer_for(_model("TransE", dim=300)), True, h, r, NUM_ENT, k=3)
    assert len(calls) == 2


def test_a_kernel_call_leaves_torch_s_thread_count_alone() -> None:
    """numba's OpenMP pool can reset the shared runtime's thread count on its first launch (a fresh
    process, so this test does not depend on the order): a one-thread grid job stays at one."""
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(1); import neuralkg_distil; "
            "from neuralkg_distil.kge.spec import ModelSpec, build_model; from neuralkg_distil.kge.scoring import scorer_for; "
            "from neuralkg_distil.evaluation.ranking import stream_queries; "
            "m = build_model(ModelSpec('TransE', 8, 300, 3)).eval(); q = torch.arange(20); "
            "torch.no_grad().__enter__(); stream_queries(scorer_for(m), True, q, q % 3, 300, k=3); "
            "print('threads', torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "threads 1" in out.stdout
