"""RotH (neuralkg_distil.kge.roth): hyperbolic identities, numerical safety at the ball's boundary, and
the model through NeuralKG's pretraining, our evaluator and export (the adapter template is in
tests/test_kge_adapters.py)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from neuralkg_distil.kge.roth import expmap0, givens, hyperbolic_distance, mobius_add, pairwise_distance
from neuralkg_distil.kge.scoring import scorer_for
from neuralkg_distil.kge.spec import ModelSpec, build_model

from conftest import cli_flags


def _points(n: int, d: int, c: torch.Tensor, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return expmap0(torch.randn(n, d, generator=g, dtype=torch.float64), c)


def test_hyperbolic_identities():
    c = torch.tensor([[0.7]], dtype=torch.float64)
    x, y = _points(5, 4, c), _points(5, 4, c, seed=1)
    zero = torch.zeros_like(x)
    torch.testing.assert_close(mobius_add(x, zero, c), x)
    torch.testing.assert_close(mobius_add(-x, mobius_add(x, y, c), c), y)  # left cancellation
    # the distance from the origin, and symmetry
    want = 2 / math.sqrt(0.7) * torch.atanh(math.sqrt(0.7) * x.norm(dim=-1))
    torch.testing.assert_close(hyperbolic_distance(zero, x, c), want)
    torch.testing.assert_close(hyperbolic_distance(x, y, c), hyperbolic_distance(y, x, c))
    # the closed form from inner products equals the explicit Mobius form
    pair = pairwise_distance(x @ y.T, (x * x).sum(-1, keepdim=True), (y * y).sum(-1).unsqueeze(0), c)
    torch.testing.assert_close(pair, hyperbolic_distance(x.unsqueeze(1), y.unsqueeze(0), c))
    # a Givens rotation keeps norms; the pair (1, 0) is the identity
    rot = torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(givens(rot, x).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(givens(torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64), x), x)


@pytest.mark.parametrize("scale", [1e3, 1e8])
@pytest.mark.parametrize("raw_c", [-200.0, 0.0, 50.0])
def test_no_nan_at_the_boundary(scale, raw_c):
    """float32 embeddings far outside the ball (tanh rounds to 1), curvatures near 0 and large:
    scores and gradients stay finite on every path."""
    torch.manual_seed(0)
    model = build_model(ModelSpec("RotH", 6, 20, 3))
    with torch.no_grad():
        model.ent_emb.weight.mul_(scale)
        model.rel_emb.weight.mul_(scale)
        model.ent_emb.weight[0].zero_()  # the origin, too
        model.rel_c.weight.fill_(raw_c)
    pos = torch.tensor([[1, 0, 2], [0, 1, 0], [3, 2, 3]])
    neg = torch.randint(0, 20, (3, 5))
    scorer = scorer_for(model)
    for scores in (model(pos), model(pos, neg, "head-batch"), model(pos, neg, "tail-batch"),
                   model.get_score({"positive_sample": pos}, "head_predict"),
                   scorer.score_tails(pos[:, 0], pos[:, 1]), scorer.score_heads(pos[:, 1], pos[:, 2]),
                   scorer.score_batch(pos, neg, "head-batch")[1]):
        model.zero_grad()
        assert torch.isfinite(scores).all()
        scores.sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("scale", [1e-3, 0.3, 1.5, 6.0])
@pytest.mark.parametrize("layout", ["per-triple", "shared"])
@pytest.mark.parametrize("mode", ["head-batch", "tail-batch"])
def test_candidates_from_dot_products_equal_the_mobius_form(scale, layout, mode):
    """The training path scores candidates from dot products (no Mobius arithmetic on ``B x K x d``): its
    scores and gradients equal the model's forward at the origin's scale, mid-ball, and out where exp0
    saturates and the Mobius sum of some head candidates lands past the ball's limit, so the projection
    runs on both paths (float64). There the distance's own clamp usually decides the score, so the
    projection seldom changes a value: the check is that both paths agree in that regime."""
    from neuralkg_distil.kge import roth

    torch.manual_seed(3)
    model = build_model(ModelSpec("RotH", 6, 30, 4)).double()
    with torch.no_grad():
        for table in (model.ent_emb, model.rel_emb):
            table.weight.normal_(0, scale)
        model.rel_c.weight.copy_(torch.tensor([[-1.0], [0.0], [1.0], [2.5]], dtype=torch.float64))
        model.ent_bh.weight.normal_(0, 0.3)
        model.ent_bt.weight.normal_(0, 0.3)
        model.rel_rot.weight[3, :2] = 0.0  # a zero pair: the angle 0, as in the forward
    pos = torch.stack([torch.randint(0, 30, (10,)), torch.randint(0, 4, (10,)), torch.randint(0, 30, (10,))], 1)
    # shared: 3 chunks of ceil(10 / 3) = 4 rows, the last one padded
    neg = torch.randint(0, 30, (3, 7)) if layout == "shared" else torch.randint(0, 30, (10, 7))
    expanded = neg.repeat_interleave(4, 0)[:10] if layout == "shared" else neg
    scorer = scorer_for(model)

    def scores_and_grads(fn):
        model.zero_grad()
        out = fn()
        (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    want, want_grads = scores_and_grads(lambda: model(pos, expanded, mode))
    got, got_grads = scores_and_grads(lambda: scorer.score_batch(pos, neg, mode, shared=layout == "shared")[1])
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert got_grads.keys() == want_grads.keys()
    for name in want_grads:
        torch.testing.assert_close(got_grads[name], want_grads[name], rtol=1e-8, atol=1e-8, msg=lambda m: f"{name}: {m}")
    if scale >= 1.5 and mode == "head-batch":  # the projection branch really runs
        h = model.ent_emb.weight[expanded]
        c = roth.curvature(model.rel_c.weight[pos[:, 1]]).unsqueeze(1)
        raw = roth.mobius_add(roth.expmap0(roth.givens(model.rel_rot.weight[pos[:, 1]].unsqueeze(1), h), c),
                              roth.expmap0(model.rel_emb.weight[pos[:, 1]].unsqueeze(1), c), c)
        assert (raw.norm(dim=-1) > (1 - roth.BALL_EPS) / c.squeeze(-1).sqrt()).any()


def test_candidate_heads_projected_back_inside_the_ball():
    """A translation and head candidates far out along one direction: their Mobius sum lands past the ball's
    limit, and the projection decides the score (without it those candidates score about -153 instead of 0):
    the dot-product path projects as the forward does."""
    model = build_model(ModelSpec("RotH", 4, 5, 1)).double()
    far = 8 * torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    with torch.no_grad():
        model.rel_rot.weight[:] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # the identity rotation
        model.rel_c.weight.fill_(0.5)
        model.rel_emb.weight[0] = far
        model.ent_emb.weight[:] = far
        model.ent_emb.weight[1] = torch.tensor([0.0, 0.3, 0.0, 0.0])
    pos, neg = torch.tensor([[0, 0, 2], [3, 0, 4]]), torch.tensor([[0, 1, 2], [3, 4, 1]])
    want = model(pos, neg, "head-batch")
    far_heads = neg != 1
    assert (want[far_heads].abs() < 1e-6).all() and (want[~far_heads] < -100).all()  # the projection decides
    torch.testing.assert_close(scorer_for(model).score_batch(pos, neg, "head-batch")[1], want, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(scorer_for(model).score_heads(pos[:, 1], pos[:, 2]).gather(1, neg), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["head-batch", "tail-batch"])
def test_candidates_in_float32_are_as_accurate_as_the_forward(mode):
    """float32 against float64 truth on random candidates, tangent scales from the origin to norms near 1: the
    dot-product training path's error stays within twice the float32 forward's (plus 1e-6)."""
    import copy

    torch.manual_seed(1)
    for scale in (0.05, 0.3, 1.0):
        exact = build_model(ModelSpec("RotH", 32, 200, 4)).double()
        with torch.no_grad():
            for table in (exact.ent_emb, exact.rel_emb):
                table.weight.normal_(0, scale / 32**0.5)
        pos = torch.stack([torch.randint(0, 200, (32,)), torch.randint(0, 4, (32,)), torch.randint(0, 200, (32,))], 1)
        neg = torch.randint(0, 200, (32, 50))
        single = copy.deepcopy(exact).float()
        with torch.no_grad():
            truth = exact(pos, neg, mode)
            forward_error = (single(pos, neg, mode).double() - truth).abs().max().item()
            error = (scorer_for(single).score_batch(pos, neg, mode)[1].double() - truth).abs().max().item()
        assert error <= 2 * forward_error + 1e-6, (scale, error, forward_error)


def test_paper_initialisation_is_near_the_origin():
    model = build_model(ModelSpec("RotH", 32, 500, 10, margin=12.0))
    assert model.ent_emb.weight.std() < 2e-3  # not NeuralKG's +-(gamma + 2) / dim = +-0.44
    assert torch.equal(model.ent_bh.weight, torch.zeros(500, 1))


def test_odd_dimension_is_a_one_line_error():
    from neuralkg_distil.errors import ConfigError

    with pytest.raises(ConfigError, match="--emb_dim must be even, got 7"):
        build_model(ModelSpec("RotH", 7, 10, 2))


def test_pretrain_evaluate_and_export(small_graph, tmp_path):
    """NeuralKG's loss (Adv_Loss) trains it in our PretrainLitModel; evaluate and export read it back."""
    import neuralkg_distil
    from neuralkg.model import RotH  # registered in NeuralKG's name space

    from neuralkg_distil.cli.main import main

    assert RotH.__module__ == "neuralkg_distil.kge.roth"
    flags = cli_flags(small_graph, tmp_path, "--model_name", "RotH", "--litmodel_name", "PretrainLitModel",
                      "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.05", "--max_epochs", "4", "--optim_name", "Adam")
    assert main(flags) == 0
    run = tmp_path / small_graph.name / "RotH_8" / "pretrain"
    saved = json.loads((run / "results.json").read_text())["models"]["model"]
    assert saved["model_name"] == "RotH" and 0 < saved["test"]["mrr"] <= 1
    assert main(["evaluate", "--ckpt", str(run / "best.ckpt")]) == 0
    out = tmp_path / "export"
    assert main(["export", "--ckpt", str(run / "best.ckpt"), "--format", "npy", "--out", str(out)]) == 0
    handle, again = neuralkg_distil.load(run / "best.ckpt"), neuralkg_distil.load(out)
    ids = [[0, 0, 1], [2, 1, 3]]
    assert torch.equal(again.score(ids), handle.score(ids))


@pytest.mark.parametrize("scale, bias", [(0.05, 0.0), (0.3, 0.5), (1.0, 2.0)])
def test_fused_top_k_equals_a_brute_force_sort(monkeypatch, scale, bias):
    """The numba top-k (tiles of 64 entities here, so the bound, the skips and the buffer trims all run) keeps
    the entities of a full sort, for tails and heads, at the origin's scale and near the boundary, with biases
    that dominate the distances. Near the boundary float32 scores carry errors of a few 1e-4 (cancellation in
    the distance), in the torch path too: both are checked against float64 scores, and the fused top-k must be
    the true top-k, and its values the true values, to within twice the torch path's own float32 error."""
    import copy

    from neuralkg_distil import kernels

    from neuralkg_distil.kge import roth_topk

    if not roth_topk.available():
        pytest.skip(f"the fused kernels cannot run here: {kernels.unavailable_reason(roth_topk._MODULE)}")
    monkeypatch.setattr(kernels, "tile_width", lambda dim: 64)
    torch.manual_seed(0)
    model = build_model(ModelSpec("RotH", 8, 1500, 4))
    with torch.no_grad():
        model.ent_emb.weight.normal_(0, scale)
        model.rel_emb.weight.normal_(0, scale)
        model.rel_c.weight.copy_(torch.tensor([[-2.0], [0.0], [1.0], [3.0]]))
        model.ent_bh.weight.normal_(0, bias)
        model.ent_bt.weight.normal_(0, bias)
    scorer, exact = scorer_for(model), scorer_for(copy.deepcopy(model).double())
    g = torch.Generator().manual_seed(1)
    anchor, rel = torch.randint(0, 1500, (40,), generator=g), torch.randint(0, 4, (40,), generator=g)
    with torch.no_grad():
        sides = ((lambda k: scorer.topk_tails(anchor, rel, k), scorer.score_tails(anchor, rel), exact.score_tails(anchor, rel)),
                 (lambda k: scorer.topk_heads(rel, anchor, k), scorer.score_heads(rel, anchor), exact.score_heads(rel, anchor)))
        for fused, full, truth in sides:
            tol = 2 * (full.double() - truth).abs().max().item() + 1e-5
            for k in (1, 37, 1499):
                values, ids = fused(k)
                assert ids.shape == (40, k) and values.shape == (40, k)
                assert all(len(set(row.tolist())) == k for row in ids)  # no entity twice
                kept = truth.gather(1, ids)
                torch.testing.assert_close(kept.sort(1, descending=True).values, truth.topk(k, dim=1).values, rtol=0, atol=tol)
                torch.testing.assert_close(values.double(), kept, rtol=0, atol=tol)
                if scale < 0.1:  # far from the boundary: the torch path's own float32 ranking, to 1e-5
                    torch.testing.assert_close(full.gather(1, ids), full.topk(k, dim=1).values, rtol=1e-5, atol=1e-5)


def test_top_k_without_the_kernels_is_the_score_matrix_sort(monkeypatch):
    monkeypatch.setenv("NEURALKG_DISTIL_KERNELS", "0")
    model = build_model(ModelSpec("RotH", 8, 200, 3))
    scorer = scorer_for(model)
    h, r = torch.tensor([0, 5, 9]), torch.tensor([0, 1, 2])
    with torch.no_grad():
        values, ids = scorer.topk_tails(h, r, 5)
        want = scorer.score_tails(h, r).topk(5, dim=1)
    assert torch.equal(values, want.values) and torch.equal(ids, want.indices)
