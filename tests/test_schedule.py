"""Soft-weight schedules (--soft_weight_schedule): values at given epochs, and their effect in training."""
from __future__ import annotations

import argparse

import pytest
import torch

from neuralkg_distil.cli.parser import build_parser, parse_args
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.run.checks import check_flags
from neuralkg_distil.training.distill_system import KGDistillLitModel
from neuralkg_distil.methods.losses import DistilE_Loss, Scores
from neuralkg_distil.methods.losses.schedule import SCHEDULES, SoftWeightSchedule
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.methods.roles import StageModels


@pytest.mark.parametrize("kind,warmup,power,expected", [
    ("constant", 0, 2.0, {0: 1.0, 7: 1.0, 500: 1.0}),
    ("linear", 10, 2.0, {0: 0.0, 1: 0.1, 5: 0.5, 10: 1.0, 50: 1.0}),
    ("power", 10, 2.0, {0: 0.0, 5: 0.25, 9: 0.81, 10: 1.0, 11: 1.0}),
    ("power", 4, 0.5, {1: 0.5, 4: 1.0}),
    ("step", 3, 2.0, {0: 0.0, 2: 0.0, 3: 1.0, 99: 1.0}),
    ("anneal", 10, 2.0, {0: 1.0, 1: 0.9, 5: 0.5, 10: 0.0, 50: 0.0}),
])
def test_schedule_values(kind, warmup, power, expected):
    schedule = SoftWeightSchedule(kind, warmup, power)
    for epoch, value in expected.items():
        assert schedule.factor(epoch) == pytest.approx(value), epoch


@pytest.mark.parametrize("flags,message", [
    (["--soft_weight_schedule", "linear"], "--soft_weight_warmup > 0"),
    (["--soft_weight_schedule", "power", "--soft_weight_warmup", "5", "--soft_weight_power", "0"], "--soft_weight_power"),
    (["--soft_weight_warmup", "-1"], "--soft_weight_warmup"),
])
def test_bad_schedules_are_one_line_errors_before_any_data_is_read(flags, message):
    with pytest.raises(ConfigError, match=message):
        check_flags(parse_args(["--model_name", "ComplEx", *flags]))


def _scores(seed: int) -> Scores:
    g = torch.Generator().manual_seed(seed)
    return Scores(torch.randn(8, generator=g), torch.randn(8, 5, generator=g))


def test_a_scheduled_loss_is_hard_only_before_the_ramp_and_distils_at_its_end():
    student, teacher = _scores(0), _scores(1)
    scheduled = DistilE_Loss(model_name="ComplEx", alpha=0.6, soft_weight_schedule="linear", soft_weight_warmup=10)
    hard_only = DistilE_Loss(model_name="ComplEx", alpha=0.0)
    full = DistilE_Loss(model_name="ComplEx", alpha=0.6)
    half = DistilE_Loss(model_name="ComplEx", alpha=0.3)
    assert scheduled.set_epoch(0) == 0.0
    assert torch.allclose(scheduled(student, teacher), hard_only(student, teacher))
    scheduled.set_epoch(5)
    assert torch.allclose(scheduled(student, teacher), half(student, teacher))
    scheduled.set_epoch(40)
    assert torch.allclose(scheduled(student, teacher), full(student, teacher))


def test_the_parser_offers_every_schedule():
    parser_choices = next(a.choices for a in build_parser()._actions if a.dest == "soft_weight_schedule")
    assert tuple(parser_choices) == SCHEDULES


def test_an_annealed_loss_distils_first_and_is_hard_only_after_the_fall():
    student, teacher = _scores(2), _scores(3)
    annealed = DistilE_Loss(model_name="TransE", alpha=0.5, soft_weight_schedule="anneal", soft_weight_warmup=4)
    full = DistilE_Loss(model_name="TransE", alpha=0.5)
    half = DistilE_Loss(model_name="TransE", alpha=0.25)
    hard_only = DistilE_Loss(model_name="TransE", alpha=0.0)
    assert annealed.set_epoch(0) == 1.0
    assert torch.allclose(annealed(student, teacher), full(student, teacher))
    annealed.set_epoch(2)
    assert torch.allclose(annealed(student, teacher), half(student, teacher))
    for epoch in (4, 100):
        annealed.set_epoch(epoch)
        assert torch.allclose(annealed(student, teacher), hard_only(student, teacher))
    assert not torch.allclose(full(student, teacher), hard_only(student, teacher))  # the fall changes the loss


def test_the_lit_model_sets_the_epoch_s_factor_at_each_epoch_start():
    num_ent, num_rel = 20, 2
    args = parse_args(["--model_name", "ComplEx", "--loss_name", "DistilE_Loss", "--emb_dim", "4",
                       "--soft_weight_schedule", "power", "--soft_weight_warmup", "4"])
    args = argparse.Namespace(**{**vars(args), "num_ent": num_ent, "num_rel": num_rel})
    s_spec, t_spec = ModelSpec("ComplEx", 4, num_ent, num_rel, margin=6.0), ModelSpec("ComplEx", 8, num_ent, num_rel, margin=6.0)
    models = StageModels(1, build_model(s_spec, args), build_model(t_spec, args), s_spec, t_spec, loss_state={})

    class AtEpoch(KGDistillLitModel):  # no Trainer in this test: the epoch is set by hand
        epoch = 0

        @property
        def current_epoch(self) -> int:
            return self.epoch

    lit = AtEpoch(models.student, args, models)
    seen = []
    for epoch in range(6):
        lit.epoch = epoch
        lit.on_train_epoch_start()
        seen.append(lit.loss.soft_scale)
    assert seen == pytest.approx([0.0, 1 / 16, 0.25, 9 / 16, 1.0, 1.0])
