"""Stage 1 leaves the teacher untouched; stage 2 trains student, teacher and the learnable weights."""
from __future__ import annotations

import argparse

import pytest
import torch

from neuralkg_distil.cli.parser import parse_args
from neuralkg_distil.training.distill_system import KGDistillLitModel
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.methods.roles import StageModels

NUM_ENT, NUM_REL = 30, 3


def lit_for(stage: int, model_name: str, loss_name: str, structure: float = 0.0, *flags: str, loss_state=None) -> KGDistillLitModel:
    torch.manual_seed(0)
    args = parse_args(["--model_name", model_name, "--loss_name", loss_name, "--emb_dim", "4", "--lr", "0.05",
                       "--structure_weight", str(structure), "--regularization", "1e-4", "--max_epochs", "4", *flags])
    args = argparse.Namespace(**{**vars(args), "num_ent": NUM_ENT, "num_rel": NUM_REL})
    student_spec = ModelSpec(model_name, 4, NUM_ENT, NUM_REL, margin=6.0)
    teacher_spec = ModelSpec(model_name, 16, NUM_ENT, NUM_REL, margin=6.0)
    models = StageModels(stage, build_model(student_spec, args), build_model(teacher_spec, args), student_spec, teacher_spec,
                         loss_state=loss_state or {})
    return KGDistillLitModel(models.student, args, models)


def batch(mode: str = "tail-batch"):
    g = torch.Generator().manual_seed(1)
    pos = torch.stack([torch.randint(0, NUM_ENT, (16,), generator=g), torch.randint(0, NUM_REL, (16,), generator=g),
                       torch.randint(0, NUM_ENT, (16,), generator=g)], dim=1)
    return {"positive_sample": pos, "negative_sample": torch.randint(0, NUM_ENT, (16, 5), generator=g), "mode": mode}


def train_steps(lit: KGDistillLitModel, steps: int = 3) -> None:
    optimizer = lit.configure_optimizers()["optimizer"]
    for i in range(steps):
        lit.on_train_epoch_start()
        optimizer.zero_grad()
        loss = lit.training_step(batch("head-batch" if i % 2 else "tail-batch"), i)
        loss.backward()
        optimizer.step()


def snapshot(module: torch.nn.Module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


CASES = [("ComplEx", "DualDE_Loss", 0.0), ("TransE", "DistilE_Loss", 0.0), ("RotatE", "DualDE_Loss", 0.5),
         ("TransH", "DistilE_Loss", 0.0), ("DistMult", "DistilE_Loss", 0.0), ("SimplE", "DualDE_Loss", 0.3)]


@pytest.mark.parametrize("model_name,loss_name,structure", CASES)
def test_stage1_teacher_gets_no_gradient_and_stays_bit_identical(model_name, loss_name, structure):
    lit = lit_for(1, model_name, loss_name, structure)
    teacher_before, student_before = snapshot(lit.teacher), snapshot(lit.model)
    train_steps(lit)
    assert not lit.teacher.training  # eval mode, even after Lightning-style train() calls
    assert all(p.grad is None and not p.requires_grad for p in lit.teacher.parameters())
    for key, value in snapshot(lit.teacher).items():
        assert torch.equal(value, teacher_before[key]), key
    assert any(not torch.equal(v, student_before[k]) for k, v in snapshot(lit.model).items())
    optimizer_params = {id(p) for g in lit.configure_optimizers()["optimizer"].param_groups for p in g["params"]}
    assert not optimizer_params & {id(p) for p in lit.teacher.parameters()}


@pytest.mark.parametrize("model_name,loss_name,structure", CASES)
def test_stage2_updates_student_teacher_and_gates(model_name, loss_name, structure):
    lit = lit_for(2, model_name, loss_name, structure)
    teacher_before, student_before = snapshot(lit.teacher), snapshot(lit.model)
    gates_before = snapshot(lit.loss)
    train_steps(lit)
    assert lit.teacher.training
    changed = lambda now, before: [k for k, v in now.items() if not torch.equal(v, before[k])]  # noqa: E731
    assert changed(snapshot(lit.teacher), teacher_before)
    assert changed(snapshot(lit.model), student_before)
    if lit.loss.weighting_kind == "calibrated":
        assert {"student_weighting.gate.b", "teacher_weighting.gate.b"} <= set(changed(snapshot(lit.loss), gates_before))
    for constant in ("margin", "embedding_range"):  # NeuralKG's constants stay constant
        if constant in teacher_before:
            assert torch.equal(getattr(lit.teacher, constant), teacher_before[constant])


def test_subsampling_weights_reach_the_loss():
    lit = lit_for(1, "TransE", "DistilE_Loss")
    b = batch()
    plain = lit.training_step(b, 0).item()
    lit.use_weight = True
    b["subsampling_weight"] = torch.linspace(0.1, 1.0, 16)
    assert lit.training_step(b, 0).item() != pytest.approx(plain)


def test_bf16_teacher_scores_close_to_float32_and_training_runs():
    from neuralkg_distil.methods.teacher_policy import FrozenTeacher
    from neuralkg_distil.training.batch_scores import FastTrainScorer

    lit = lit_for(1, "ComplEx", "DualDE_Loss")
    b = {**batch(), "neg_chunk_size": 4, "negative_sample": torch.randint(0, NUM_ENT, (4, 5))}
    exact = FastTrainScorer()(lit.teacher, b)
    policy = FrozenTeacher(bf16=True)
    policy.prepare(lit.teacher)
    policy.on_train_epoch_start(lit.teacher)
    with policy.scoring():
        low = FastTrainScorer()(lit.teacher, b)
    assert low.neg.dtype == torch.bfloat16  # autocast really ran the products in bfloat16
    torch.testing.assert_close(low.neg.float(), exact.neg, rtol=2e-2, atol=2e-2)
    lit.policy = policy
    before = snapshot(lit.teacher)
    train_steps(lit, 2)
    assert all(torch.equal(v, before[k]) for k, v in snapshot(lit.teacher).items())


def test_learning_rates_follow_the_dimension_and_gates_have_their_own():
    plain = lit_for(2, "TransE", "DualDE_Loss").configure_optimizers()["optimizer"].param_groups
    assert [g["lr"] for g in plain] == [0.05, 0.05, 0.01]  # student, teacher, calibrated gates (--gate_lr)
    scaled = lit_for(2, "TransE", "DualDE_Loss", 0.0, "--lr_ref_dim", "16").configure_optimizers()["optimizer"].param_groups
    assert [g["lr"] for g in scaled] == pytest.approx([0.05 * 16 / 4, 0.05, 0.01])  # student 4 dims, teacher 16
    root = lit_for(1, "ComplEx", "DualDE_Loss", 0.0, "--lr_ref_dim", "16", "--lr_dim_power", "0.5")
    assert [g["lr"] for g in root.configure_optimizers()["optimizer"].param_groups] == pytest.approx([0.1, 0.01])
    published = lit_for(1, "ComplEx", "DualDE_Loss", 0.0, "--soft_weighting", "adaptive")
    assert [g["lr"] for g in published.configure_optimizers()["optimizer"].param_groups] == [0.05, 0.05]


def test_plateau_decay_steps_on_validation_mrr():
    config = lit_for(1, "TransE", "DistilE_Loss", 0.0, "--lr_decay", "plateau", "--lr_decay_patience", "2",
                     "--check_per_epoch", "3").configure_optimizers()
    schedule = config["lr_scheduler"]
    assert schedule["monitor"] == "Eval|mrr" and schedule["frequency"] == 3
    optimizer, scheduler = config["optimizer"], schedule["scheduler"]
    for mrr in (0.1, 0.2, 0.2, 0.2):
        scheduler.step(mrr)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    scheduler.step(0.2)  # a third check without progress: patience 2 exceeded
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.96)


@pytest.mark.parametrize("kind,carried", [("adaptive", True), ("calibrated", False)])
def test_stage2_gates_fresh_when_calibrated_carried_when_published(kind, carried):
    key = "student_weighting.pos_gate.b" if kind == "adaptive" else "student_weighting.gate.b"
    lit = lit_for(2, "ComplEx", "DualDE_Loss", 0.0, "--soft_weighting", kind, loss_state={key: torch.tensor([3.0])})
    assert (lit.loss.state_dict()[key].item() == 3.0) is carried


def test_stage2_published_gates_of_both_sides_learn():
    lit = lit_for(2, "ComplEx", "DualDE_Loss", 0.0, "--soft_weighting", "adaptive")
    gates_before = snapshot(lit.loss)
    train_steps(lit)
    changed = [k for k, v in snapshot(lit.loss).items() if not torch.equal(v, gates_before[k])]
    assert {"student_weighting.pos_gate.a", "teacher_weighting.pos_gate.a"} <= set(changed)
