"""Soft-label evaluation (DualDE's gates): the published gates switch distillation off during
training; the calibrated gates keep trusting a good teacher and distrust exactly its mistakes."""
from __future__ import annotations

import math

import pytest
import torch

from neuralkg_distil.methods.losses import DualDE_Loss, Scores
from neuralkg_distil.methods.losses.weighting import CalibratedWeighting


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_calibrated_weights_and_gate_loss_by_hand():
    weighting = CalibratedWeighting()
    label = Scores.of(torch.tensor([2.0]), torch.tensor([[-1.0, 0.5]]))
    w_pos, w_neg = weighting(label)
    # a = 1, b = 0 at the start: w_pos = sigma(f), w_neg = 1 - sigma(f)
    assert w_pos.item() == pytest.approx(sig(2.0))
    assert w_neg.tolist()[0] == pytest.approx([1 - sig(-1.0), 1 - sig(0.5)])
    # class-balanced logistic loss: positives labelled 1, negatives 0
    expected = 0.5 * (-math.log(sig(2.0)) + 0.5 * (-math.log(1 - sig(-1.0)) - math.log(1 - sig(0.5))))
    assert weighting.aux_loss(label).item() == pytest.approx(expected, rel=1e-6)
    # a masked negative (a true triple among the negatives) is no evidence of y = 0
    masked = weighting.aux_loss(label, neg_mask=torch.tensor([[False, True]])).item()
    assert masked == pytest.approx(0.5 * (-math.log(sig(2.0)) - math.log(1 - sig(-1.0))), rel=1e-6)


def test_calibrated_gates_learn_only_from_their_own_objective():
    loss = DualDE_Loss(model_name="ComplEx", soft_distance="bce")
    assert loss.weighting_kind == "calibrated"
    student = Scores(torch.tensor([1.0], requires_grad=True), torch.tensor([[0.0, 2.0]], requires_grad=True))
    teacher = Scores(torch.tensor([3.0], requires_grad=True), torch.tensor([[-2.0, 1.0]], requires_grad=True))
    gate = loss.student_weighting.gate
    # the distillation part alone gives the gate no gradient: its weights arrive detached
    terms = loss.element_terms(student, teacher.detach())
    from neuralkg_distil.methods.losses.terms import combine

    w_pos, w_neg = loss.student_weighting(teacher)
    assert not w_pos.requires_grad and not w_neg.requires_grad
    combine(terms, w_pos, w_neg).backward(retain_graph=True)
    assert gate.raw_a.grad is None and gate.b.grad is None
    # the whole loss: the gate learns (from its calibration term), the teacher's scores stay labels
    loss(student, teacher).backward()
    assert gate.b.grad is not None and gate.b.grad.abs().item() > 0
    assert teacher.pos.grad is None and teacher.neg.grad is None
    assert gate.a.item() > 0


def _train(kind: str, teacher: Scores, steps: int = 300, seed: int = 0):
    """A toy stage 1: the student's scores are free parameters, trained on DualDE_Loss (bce soft
    distance) together with the gates; returns the mean soft weights along training."""
    torch.manual_seed(seed)
    pos = torch.zeros_like(teacher.pos, requires_grad=True)
    neg = torch.zeros_like(teacher.neg, requires_grad=True)
    loss = DualDE_Loss(model_name="ComplEx", soft_distance="bce", soft_weighting=kind, adv_temp=0.0)
    optimizer = torch.optim.Adam([{"params": [pos, neg], "lr": 0.05}, {"params": loss.parameters(), "lr": 0.05}])
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        out = loss(Scores(pos, neg), teacher)
        out.backward()
        optimizer.step()
        w_pos, w_neg = loss.student_weighting(teacher)
        history.append((w_pos.mean().item(), w_neg.mean().item()))
    return history, loss.student_weighting


def _good_teacher(batch: int = 64, k: int = 8) -> Scores:
    g = torch.Generator().manual_seed(1)
    return Scores(4.0 + torch.randn(batch, generator=g), -4.0 + torch.randn(batch, k, generator=g))


def test_published_gates_switch_distillation_off_over_training():
    history, _ = _train("adaptive", _good_teacher())
    start, end = history[0], history[-1]
    assert start[0] > 0.9 and start[1] > 0.9
    # with a perfect teacher the soft term's entropy floor exceeds the hard loss, so the gates
    # trained on that loss push every soft weight down: distillation switches itself off
    assert end[0] < 0.3 and end[1] < 0.3


def test_calibrated_gates_keep_trusting_a_perfect_teacher():
    history, _ = _train("calibrated", _good_teacher())
    assert min(w for w, _ in history) > 0.9
    assert min(w for _, w in history) > 0.9


def test_calibrated_gates_distrust_exactly_the_teachers_mistakes():
    batch, k = 100, 10
    g = torch.Generator().manual_seed(2)
    pos = 4.0 + 0.5 * torch.randn(batch, generator=g)
    neg = -4.0 + 0.5 * torch.randn(batch, k, generator=g)
    wrong_pos = torch.arange(batch) < 20  # the teacher scores these true triples low
    wrong_neg = torch.zeros(batch, k, dtype=torch.bool)
    wrong_neg[:, 0] = torch.arange(batch) >= 70  # and these corrupted ones high
    pos[wrong_pos] = -4.0 + 0.5 * torch.randn(int(wrong_pos.sum()), generator=g)
    neg[wrong_neg] = 4.0 + 0.5 * torch.randn(int(wrong_neg.sum()), generator=g)
    history, weighting = _train("calibrated", Scores(pos, neg), steps=400)
    w_pos, w_neg = weighting(Scores(pos, neg))
    assert w_pos[wrong_pos].max() < 0.35 and w_pos[~wrong_pos].min() > 0.65
    assert w_neg[wrong_neg].max() < 0.35 and w_neg[~wrong_neg].min() > 0.65

