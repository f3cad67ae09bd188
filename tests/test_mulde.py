"""MulDE: the senior's scaling and attention by hand, the temperature schedule at its limits, the
junior's top-K, and a stage-1 run through the CLI with two teachers of different families."""
from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from neuralkg_distil.methods.losses.mulde import (
    TAU_EXPONENT_CAP, MulDE_Loss, attention_temperature, contrastive_attention, relation_scaling,
)
from neuralkg_distil.methods.losses.terms import Scores

from conftest import cli_flags


def test_relation_scaling_by_hand():
    weights = torch.tensor([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5], [-3.0, 3.0]])  # 2 |R| = 4 rows, m = 2 teachers
    scores = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[-1.0, 0.0], [5.0, 6.0]]])  # (m=2, B=2, K=2)
    index = torch.tensor([1, 3])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    want = torch.tensor([[[sig(2) * 1, sig(2) * 2], [sig(-3) * 3, sig(-3) * 4]],
                         [[sig(-1) * -1, 0.0], [sig(3) * 5, sig(3) * 6]]])
    torch.testing.assert_close(relation_scaling(weights, index, scores), want)


def test_contrastive_attention_by_hand():
    junior = torch.tensor([[0.0, 0.0]])
    scaled = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]])  # teacher 1 agrees with the junior
    d2 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)  # KL([.5, .5] || [.75, .25])
    for tau in (1.0, math.e):
        a1 = 1 / (1 + math.exp(-d2 / tau))
        torch.testing.assert_close(contrastive_attention(junior, scaled, tau), torch.tensor([[a1, 1 - a1]]))


def test_temperature_grows_and_attention_tends_to_uniform():
    assert [attention_temperature(e) for e in (0, 4, 5, 12)] == [1.0, 1.0, math.exp(1), math.exp(2)]
    assert attention_temperature(10**12) == math.exp(TAU_EXPONENT_CAP)  # capped: exp would overflow past ~710
    g = torch.Generator().manual_seed(0)
    junior, scaled = torch.randn(4, 10, generator=g), 3 * torch.randn(3, 4, 10, generator=g)
    spread = [(contrastive_attention(junior, scaled, attention_temperature(e)) - 1 / 3).abs().max().item()
              for e in (0, 10, 25, 50, 10**9)]
    assert spread == sorted(spread, reverse=True) and spread[0] > 0.05 and spread[-1] < 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_never_overflows(dtype):
    big = torch.finfo(dtype).max / 10
    junior = torch.tensor([[big, -big, 0.0]], dtype=dtype)
    scaled = torch.tensor([[[-big, big, 0.0]], [[big, -big, 0.0]], [[0.0, 0.0, 0.0]]], dtype=dtype)
    for epoch in (0, 100, 10**9):
        a = contrastive_attention(junior, scaled, attention_temperature(epoch))
        assert torch.isfinite(a).all() and torch.allclose(a.sum(-1), torch.ones(1, dtype=dtype))
    a = contrastive_attention(junior, scaled, 1.0)[0]  # the teacher that agrees wins, the opposite one gets 0
    torch.testing.assert_close(a, torch.tensor([0.0, 1 / (1 + 1 / 3), 1 / 3 / (1 + 1 / 3)], dtype=dtype))


def test_candidate_terms_train_the_senior_and_the_junior_only():
    loss = MulDE_Loss(None, mulde_topk=3)
    loss.build_senior(num_rel=2, num_teachers=2)
    junior = torch.randn(3, 4, requires_grad=True)
    teachers = torch.randn(2, 3, 4, requires_grad=True)
    labels = torch.zeros(3, 4)
    labels[0, 1] = 1
    terms = loss.candidate_terms(junior, teachers, labels, torch.tensor([0, 3, 1]))
    # the senior loss by hand: s* = sum_i a_i sigmoid(W) s_i, BCE against y_C
    scaled = torch.sigmoid(loss.scaling.detach()[[0, 3, 1]]).T.unsqueeze(-1) * teachers.detach()
    a = contrastive_attention(junior, scaled, 1.0)
    senior = (a.T.unsqueeze(-1) * scaled).sum(0)
    torch.testing.assert_close(terms["senior"], torch.nn.functional.binary_cross_entropy_with_logits(senior, labels))
    terms["senior"].backward(retain_graph=True)
    assert loss.scaling.grad is not None and loss.scaling.grad[2].abs().sum() == 0  # row 2 is no query's
    assert junior.grad is None and teachers.grad is None
    terms["soft"].backward()
    assert junior.grad is not None and teachers.grad is None
    hard = loss(Scores(torch.zeros(3), torch.zeros(3, 5)))
    torch.testing.assert_close(hard, torch.tensor(math.log(2.0)))  # BCE of logit 0, any label


def test_top_k_equals_a_brute_force_sort():
    from neuralkg_distil.kge.spec import ModelSpec, build_model
    from neuralkg_distil.methods.mulde import junior_candidates

    torch.manual_seed(0)
    model = build_model(ModelSpec("RotH", 6, 30, 3)).double()
    with torch.no_grad():
        model.ent_emb.weight.normal_(0, 0.3)
    pos = torch.tensor([[0, 1, 2], [5, 2, 7], [9, 0, 9]])
    for mode, predict in (("tail-batch", "tail_predict"), ("head-batch", "head_predict")):
        with torch.no_grad():
            want = model.get_score({"positive_sample": pos}, predict).argsort(dim=1, descending=True)[:, :7]
        assert torch.equal(junior_candidates(model, pos, mode, 7), want)


def test_bad_mulde_flags_are_one_line_errors():
    import argparse

    from neuralkg_distil.errors import ConfigError
    from neuralkg_distil.methods.registry import method_named

    for flag, value, message in (("mulde_topk", 0, "--mulde_topk must be > 0, got 0"),
                                 ("mulde_temperature", -1.0, "--mulde_temperature must be > 0"),
                                 ("mulde_soft_weight", -0.5, "--mulde_soft_weight must be >= 0")):
        with pytest.raises(ConfigError, match=message):
            MulDE_Loss(argparse.Namespace(**{flag: value}))
    with pytest.raises(ConfigError, match="MulDE has stages 1, not 2"):
        method_named("MulDE").phase(2)


@pytest.mark.parametrize("adversarial", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_default_hard_loss_is_the_no_ds_students_adv_loss(adversarial, weighted):
    """MulDE's junior and a no-DS student learn from the same hard loss (NeuralKG's Adv_Loss)."""
    import argparse

    from neuralkg.loss import Adv_Loss

    torch.manual_seed(0)
    pos, neg, weight = torch.randn(6) * 3, torch.randn(6, 5) * 3, torch.rand(6) + 0.1
    args = argparse.Namespace(negative_adversarial_sampling=adversarial, adv_temp=0.7, use_weight=weighted,
                              model_name="RotatE", regularization=0.0)
    expected = Adv_Loss(args, None)(pos.view(-1, 1), neg, weight if weighted else None)
    ours = MulDE_Loss(args)(Scores.of(pos, neg), None, 1, weight if weighted else None)
    assert torch.allclose(ours, expected, atol=1e-6)
    # a masked negative (a true triple among shared negatives) weighs 0, as if it were not there
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, 0] = True
    masked = MulDE_Loss(args)(Scores.of(pos, neg), None, 1, weight if weighted else None, negative_mask=mask)
    alone = Adv_Loss(args, None)(pos.view(-1, 1), neg[:, 1:], weight if weighted else None)
    assert torch.allclose(masked, alone, atol=1e-6)


def test_release_hard_loss_is_one_bce_over_gold_and_negatives():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([[0.5, -0.5, 1.0], [0.0, 3.0, -2.0]])
    loss = MulDE_Loss(None, mulde_hard_loss="bce")(Scores.of(pos, neg))
    logits = torch.cat([pos.view(-1, 1), neg], 1)
    labels = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    assert torch.allclose(loss, torch.nn.functional.binary_cross_entropy_with_logits(logits, labels))
    from neuralkg_distil.errors import ConfigError

    with pytest.raises(ConfigError, match="--mulde_hard_loss must be one of adv, bce, got 'kl'"):
        MulDE_Loss(None, mulde_hard_loss="kl")


# ------------------------------------------------------------------------ through the CLI
def _weights(path, prefix):
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def mulde_run(small_graph, tmp_path_factory):
    from neuralkg_distil.cli.main import main

    out = tmp_path_factory.mktemp("mulde")
    teachers = []
    for model, dim in (("ComplEx", 16), ("RotatE", 12)):
        flags = cli_flags(small_graph, out, "--model_name", model, "--litmodel_name", "KGELitModel", "--loss_name",
                          "Adv_Loss", "--emb_dim", str(dim), "--lr", "0.01", "--max_epochs", "2")
        assert main(flags) == 0
        teachers.append(out / small_graph.name / f"{model}_{dim}" / "pretrain" / "best.ckpt")
    run = out / "junior"
    flags = cli_flags(small_graph, out, "--model_name", "RotH", "--emb_dim", "8", "--litmodel_name", "KGDistillLitModel",
                      "--loss_name", "MulDE_Loss", "--teacher_ckpt", ",".join(map(str, teachers)), "--mulde_topk", "20",
                      "--lr", "0.01", "--optim_name", "Adam", "--max_epochs", "4", "--run_dir", str(run))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(flags) == 0
    return teachers, run / "stage1", printed.getvalue()


def test_stage1_with_two_teachers_of_different_families(mulde_run):
    teachers, stage, printed = mulde_run
    assert "stage 1: RotH 8 from teachers ComplEx 16, RotatE 12" in printed  # every teacher named, not the first
    results = json.loads((stage / "results.json").read_text())
    models = results["models"]
    assert {r: (m["model_name"], m["emb_dim"]) for r, m in models.items()} == {
        "model": ("RotH", 8), "teacher": ("ComplEx", 16), "teacher2": ("RotatE", 12)}
    assert all(0 < m["test"]["mrr"] <= 1 for m in models.values())
    ckpt = stage / "last.ckpt"
    for path, role in zip(teachers, ("teacher", "teacher2")):  # frozen: bit-identical after training
        before, after = _weights(path, "model."), _weights(ckpt, f"{role}.")
        assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    scaling = torch.load(ckpt, weights_only=True)["state_dict"]["loss.scaling"]
    assert scaling.shape == (2 * 4, 2) and not torch.equal(scaling, torch.ones_like(scaling))  # the senior learned


def test_multi_teacher_checkpoint_rebuilds_from_the_file_alone(mulde_run):
    import neuralkg_distil
    from neuralkg_distil.checkpoint.files import CONFIG_KEY

    teachers, stage, _ = mulde_run
    config = torch.load(stage / "best.ckpt", weights_only=True)[CONFIG_KEY]
    assert config["method"] == "MulDE" and config["mulde"]["topk"] == 20
    assert [config["models"][r]["model_name"] for r in ("model", "teacher", "teacher2")] == ["RotH", "ComplEx", "RotatE"]
    for role, path in (("teacher", teachers[0]), ("teacher2", teachers[1])):
        handle, original = neuralkg_distil.load(stage / "best.ckpt", role=role), neuralkg_distil.load(path)
        assert handle.spec == original.spec
        assert torch.equal(handle.score([[0, 1, 2], [3, 0, 4]]), original.score([[0, 1, 2], [3, 0, 4]]))
