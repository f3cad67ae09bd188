"""Distillation losses against values worked out by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.losses import DistilE_Loss, DualDE_Loss, EntityPairs, Scores, family_of


def s(pos, neg) -> Scores:
    return Scores.of(torch.tensor([pos], dtype=torch.float64), torch.tensor([neg], dtype=torch.float64))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def smooth_l1(a: float, b: float) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d < 1 else d - 0.5


def bce(prob: float, target: float) -> float:
    return -(target * math.log(prob) + (1 - target) * math.log(1 - prob))


# --- DistilE, margin family -------------------------------------------------------------
STUDENT_M, TEACHER_M = s(2.0, [1.5, -1.0]), s(3.0, [0.0, -2.0])


def test_distile_margin_stage1_by_hand():
    loss = DistilE_Loss(model_name="TransE", alpha=0.5, rank_margin=1.0)
    assert loss.family == "margin"
    # pairs: [1 - 2 + 1.5]_+ = 0.5, [1 - 2 - 1]_+ = 0 -> hard = 0.25
    # soft: |3 - 2| = 1 (positive); |0 - 1.5|, |-2 + 1| -> 1.25 (negatives) -> (1 + 1.25) / 2
    expected = 0.5 * 1.125 + 0.5 * 0.25
    assert loss(STUDENT_M, TEACHER_M, stage=1).item() == pytest.approx(expected)


def test_distile_margin_alpha_extremes():
    hard_only = DistilE_Loss(model_name="TransE", alpha=0.0, rank_margin=1.0)
    soft_only = DistilE_Loss(model_name="TransE", alpha=1.0, rank_margin=1.0)
    assert hard_only(STUDENT_M, TEACHER_M).item() == pytest.approx(0.25)
    assert soft_only(STUDENT_M, TEACHER_M).item() == pytest.approx(1.125)


def test_distile_margin_stage2_adds_teacher_mirror():
    loss = DistilE_Loss(model_name="TransE", alpha=0.5, beta=0.25, rank_margin=1.0)
    # teacher's pairs: [1 - 3 + 0]_+ = 0, [1 - 3 - 2]_+ = 0 -> hard 0; soft is symmetric: 1.125
    teacher_side = 0.25 * 1.125 + 0.75 * 0.0
    assert loss(STUDENT_M, TEACHER_M, stage=2).item() == pytest.approx(0.6875 + teacher_side)


# --- DistilE, cross-entropy family ------------------------------------------------------
def test_distile_ce_stage1_by_hand():
    loss = DistilE_Loss(model_name="ComplEx", alpha=0.3)
    assert loss.family == "ce"
    student, teacher = s(math.log(3), [0.0]), s(0.0, [math.log(3)])
    hard = (-math.log(0.75) + -math.log(0.5)) / 2  # -log sigma(pos), -log(1 - sigma(neg))
    soft = (bce(0.75, 0.5) + bce(0.5, 0.75)) / 2  # targets are the teacher's probabilities
    assert loss(student, teacher).item() == pytest.approx(0.3 * soft + 0.7 * hard)


def test_distile_ce_stage2_by_hand():
    loss = DistilE_Loss(model_name="ComplEx", alpha=0.3, beta=0.6)
    student, teacher = s(math.log(3), [0.0]), s(0.0, [math.log(3)])
    s_side = 0.3 * (bce(0.75, 0.5) + bce(0.5, 0.75)) / 2 + 0.7 * (-math.log(0.75) - math.log(0.5)) / 2
    t_side = 0.6 * (bce(0.5, 0.75) + bce(0.75, 0.5)) / 2 + 0.4 * (-math.log(0.5) - math.log(0.25)) / 2
    assert loss(student, teacher, stage=2).item() == pytest.approx(s_side + t_side)


def test_family_override_and_subsampling_weights():
    assert family_of("ComplEx", "margin") == "margin" and family_of("TransH") == "margin"
    loss = DistilE_Loss(model_name="TransE", alpha=0.0, rank_margin=1.0)
    student = Scores.of(torch.tensor([2.0, 0.0]), torch.tensor([[1.5], [0.5]]))
    teacher = Scores.of(torch.tensor([0.0, 0.0]), torch.tensor([[0.0], [0.0]]))
    # per-triple hard: 0.5 and 1.5; weights 3 and 1 -> (1.5 + 1.5) / 4
    weighted = loss(student, teacher, subsampling_weight=torch.tensor([3.0, 1.0]))
    assert weighted.item() == pytest.approx(0.75)
    assert loss(student, teacher).item() == pytest.approx(1.0)


# --- DualDE -------------------------------------------------------------------------------
def dualde_side(learner_pos, learner_neg, label_pos, label_neg, w_pos, w_neg, distance=None):
    """DualDE's per-side loss written out with plain floats (soft distance: SmoothL1 of sigmoids)."""
    distance = distance or (lambda x, y: smooth_l1(sig(x), sig(y)))
    q = [math.exp(x) for x in learner_neg]
    q = [x / sum(q) for x in q]
    d_pos = distance(learner_pos, label_pos)
    pos_part = w_pos * d_pos + (1 - w_pos) * -math.log(sig(learner_pos))
    neg_part = sum(
        qj * (wj * distance(x, y) + (1 - wj) * -math.log(sig(-x)))
        for qj, wj, x, y in zip(q, w_neg, learner_neg, label_neg)
    )
    return 0.5 * (pos_part + neg_part)


def test_dualde_adaptive_stage1_by_hand():
    loss = DualDE_Loss(model_name="ComplEx", adv_temp=1.0, soft_weighting="adaptive")
    assert loss.weighting_kind == "adaptive"
    student, teacher = s(1.0, [0.0, math.log(3)]), s(2.0, [-1.0, 0.0])
    # gates start at a=1, b=0: w_pos = sigma(f_T(pos)), w_neg = 1 - sigma(f_T(neg))
    expected = dualde_side(1.0, [0.0, math.log(3)], 2.0, [-1.0, 0.0], sig(2.0), [1 - sig(-1.0), 1 - sig(0.0)])
    assert loss(student, teacher).item() == pytest.approx(expected)


def test_dualde_fixed_and_stage2_by_hand():
    loss = DualDE_Loss(model_name="ComplEx", soft_weighting="fixed", alpha=0.7, beta=0.2)
    student, teacher = s(1.0, [0.0, math.log(3)]), s(2.0, [-1.0, 0.0])
    s_side = dualde_side(1.0, [0.0, math.log(3)], 2.0, [-1.0, 0.0], 0.7, [0.7, 0.7])
    t_side = dualde_side(2.0, [-1.0, 0.0], 1.0, [0.0, math.log(3)], 0.2, [0.2, 0.2])
    assert loss(student, teacher, stage=1).item() == pytest.approx(s_side)
    assert loss(student, teacher, stage=2).item() == pytest.approx(s_side + t_side)


def test_dualde_bce_soft_distance_by_hand():
    loss = DualDE_Loss(model_name="ComplEx", adv_temp=1.0, soft_distance="bce", soft_weighting="adaptive")
    student, teacher = s(1.0, [0.0, math.log(3)]), s(2.0, [-1.0, 0.0])
    expected = dualde_side(1.0, [0.0, math.log(3)], 2.0, [-1.0, 0.0], sig(2.0), [1 - sig(-1.0), 1 - sig(0.0)],
                           distance=lambda x, y: bce(sig(x), sig(y)))
    assert loss(student, teacher).item() == pytest.approx(expected)
    # same minimum as SmoothL1 (learner equal to label), but a gradient that does not vanish
    far = Scores.of(torch.tensor([12.0], requires_grad=True), torch.tensor([[-12.0]], requires_grad=True))
    label = s(-12.0, [12.0])
    grads = {}
    for name in ("smoothl1", "bce"):
        (g,) = torch.autograd.grad(DualDE_Loss(model_name="ComplEx", soft_weighting="fixed", alpha=1.0, soft_distance=name)(far, label), far.pos)
        grads[name] = abs(g.item())
    assert grads["bce"] > 1000 * grads["smoothl1"]


def test_dualde_adaptive_stage2_teacher_gates_read_student_scores():
    loss = DualDE_Loss(model_name="ComplEx", soft_weighting="adaptive")
    student, teacher = s(1.0, [0.0, math.log(3)]), s(2.0, [-1.0, 0.0])
    s_side = dualde_side(1.0, [0.0, math.log(3)], 2.0, [-1.0, 0.0], sig(2.0), [1 - sig(-1.0), 1 - sig(0.0)])
    t_side = dualde_side(2.0, [-1.0, 0.0], 1.0, [0.0, math.log(3)], sig(1.0), [1 - sig(0.0), 1 - sig(math.log(3))])
    assert loss(student, teacher, stage=2).item() == pytest.approx(s_side + t_side)


def test_adaptive_gates_learn_and_soft_labels_stay_detached():
    loss = DualDE_Loss(model_name="ComplEx", soft_weighting="adaptive")
    student_pos = torch.tensor([1.0], requires_grad=True)
    teacher_pos = torch.tensor([2.0], requires_grad=True)
    out = loss(Scores.of(student_pos, torch.zeros(1, 2)), Scores.of(teacher_pos, torch.zeros(1, 2)), stage=1)
    out.backward()
    assert student_pos.grad is not None and student_pos.grad.abs().item() > 0
    assert teacher_pos.grad is None  # stage 1: the teacher's scores are labels only
    gate = loss.student_weighting.pos_gate
    assert gate.a.grad is not None and gate.a.grad.abs().item() > 0


def test_structure_term_by_hand():
    loss = DualDE_Loss(model_name="ComplEx", soft_weighting="fixed", alpha=1.0, structure_weight=2.0)
    zero = s(0.0, [0.0])
    student_pairs = EntityPairs(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))  # cos 0, ratio 1
    teacher_pairs = EntityPairs(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[2.0, 0.0, 0.0]]))  # cos 1, ratio .5
    base = DualDE_Loss(model_name="ComplEx", soft_weighting="fixed", alpha=1.0)(zero, zero).item()
    with_structure = loss(zero, zero, 1, None, student_pairs, teacher_pairs).item()
    assert with_structure - base == pytest.approx(2.0 * (smooth_l1(0.0, 1.0) + smooth_l1(1.0, 0.5)), rel=1e-6)
    with pytest.raises(ConfigError):  # the structure term without entity vectors
        loss(zero, zero)


@pytest.mark.parametrize("bad", [{"alpha": 1.5}, {"beta": -0.1}, {"soft_weighting": "magic"}, {"distil_family": "x"}, {"soft_distance": "l2"}])
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        DistilE_Loss(model_name="TransE", **bad)


def test_soft_label_scale_dim_maps_the_teachers_distances_to_the_students_dimension():
    import argparse

    from neuralkg_distil.kge.spec import ModelSpec
    from neuralkg_distil.methods.losses import DistilE_Loss, Scores
    from neuralkg_distil.errors import ConfigError

    student, teacher = ModelSpec("TransE", 16, 10, 2, margin=1.0), ModelSpec("TransE", 64, 10, 2, margin=2.0)
    g = torch.Generator().manual_seed(0)
    s = Scores(torch.randn(4, generator=g), torch.randn(4, 3, generator=g))
    t = Scores(torch.randn(4, generator=g) - 20, torch.randn(4, 3, generator=g) - 30)
    scaled = DistilE_Loss(model_name="TransE", soft_label_scale="dim")
    scaled.set_models(student, teacher)
    a, b = 16 / 64, 1.0 - 2.0 * 16 / 64  # f' = gamma_S - (gamma_T - f) * 16 / 64
    by_hand = DistilE_Loss(model_name="TransE")
    expected = by_hand(s, Scores(t.pos * a + b, t.neg * a + b), 1)
    assert torch.allclose(scaled(s, t, 1), expected)
    assert not torch.allclose(by_hand(s, t, 1), expected)  # the raw teacher scores give another loss
    # stage 2: the teacher's mirror term sees the student's distances at the teacher's dimension
    a2, b2 = 64 / 16, 2.0 - 1.0 * 64 / 16
    mirror = by_hand(s, Scores(t.pos * a + b, t.neg * a + b), 1) + by_hand(t, Scores(s.pos * a2 + b2, s.neg * a2 + b2), 1)
    assert torch.allclose(scaled(s, t, 2), mirror)
    with pytest.raises(ConfigError, match="score differently"):  # a ComplEx student of a TransE teacher
        DistilE_Loss(model_name="ComplEx", soft_label_scale="dim").set_models(ModelSpec("ComplEx", 16, 10, 2), teacher)
    with pytest.raises(ConfigError, match="RotH's adapter does not declare its score_form"):
        DistilE_Loss(model_name="RotH", soft_label_scale="dim").set_models(
            ModelSpec("RotH", 16, 10, 2), ModelSpec("RotH", 64, 10, 2))
    with pytest.raises(ConfigError, match="--soft_label_scale"):
        DistilE_Loss(argparse.Namespace(soft_label_scale="row"))


def test_soft_label_scale_dim_divides_a_bilinear_teacher_s_scores_by_the_dimension_ratio():
    from neuralkg_distil.kge.spec import ModelSpec
    from neuralkg_distil.methods.losses import DistilE_Loss, Scores

    # ComplEx scores have no margin offset (its --margin is not part of the score): f' = f * 8 / 64
    student, teacher = ModelSpec("ComplEx", 8, 10, 2, margin=6.0), ModelSpec("ComplEx", 64, 10, 2, margin=6.0)
    g = torch.Generator().manual_seed(1)
    s = Scores(torch.randn(4, generator=g), torch.randn(4, 3, generator=g))
    t = Scores(8 * torch.randn(4, generator=g), 8 * torch.randn(4, 3, generator=g))
    scaled = DistilE_Loss(model_name="ComplEx", soft_label_scale="dim")
    scaled.set_models(student, teacher)
    assert scaled.label_maps == {"student": (0.125, 0.0), "teacher": (8.0, 0.0)}
    by_hand = DistilE_Loss(model_name="ComplEx")
    assert torch.allclose(scaled(s, t, 1), by_hand(s, Scores(t.pos / 8, t.neg / 8), 1))
    assert not torch.allclose(scaled(s, t, 1), by_hand(s, t, 1))


@pytest.mark.parametrize("model,form", [("TransE", "margin_minus_sum"), ("TransH", "margin_minus_sum"),
                                        ("TransR", "margin_minus_sum"), ("RotatE", "margin_minus_sum"),
                                        ("ComplEx", "sum"), ("DistMult", "sum"), ("SimplE", "sum")])
def test_every_paper_family_declares_how_its_score_grows_with_the_dimension(model, form):
    from neuralkg_distil.kge.adapter import adapter_for

    assert adapter_for(model).score_form == form


def test_soft_label_scale_dim_also_maps_the_teachers_candidate_scores():
    from neuralkg_distil.kge.spec import ModelSpec

    student, teacher = ModelSpec("TransE", 16, 10, 2, margin=1.0), ModelSpec("TransE", 64, 10, 2, margin=2.0)
    g = torch.Generator().manual_seed(1)
    learner, label = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g) * 10 - 40
    a, b = 16 / 64, 1.0 - 2.0 * 16 / 64
    for kd_loss in ("kl", "bce"):
        scaled = DistilE_Loss(model_name="TransE", soft_label_scale="dim", kd_loss=kd_loss)
        scaled.set_models(student, teacher)
        plain = DistilE_Loss(model_name="TransE", kd_loss=kd_loss)
        assert torch.allclose(scaled.listwise_loss(learner, label), plain.listwise_loss(learner, label * a + b))
        assert not torch.allclose(plain.listwise_loss(learner, label), plain.listwise_loss(learner, label * a + b))
