"""The two training stages as small strategy objects: what happens to the teacher in each."""
from __future__ import annotations

import contextlib
from typing import ContextManager, Iterator

import torch
from torch import nn


class TeacherPolicy:
    """How the teacher takes part in training."""

    stage: int = 1
    trains_teacher: bool = False

    def prepare(self, teacher: nn.Module) -> None:
        """Set the teacher up once, before training."""

    def on_train_epoch_start(self, teacher: nn.Module) -> None:
        """Lightning puts every submodule in train mode each epoch; undo that where needed."""

    def scoring(self) -> ContextManager:
        """The context the teacher's forward pass runs in."""
        return contextlib.nullcontext()

    def trainable(self, teacher: nn.Module) -> Iterator[nn.Parameter]:
        """Teacher parameters that go into the optimizer."""
        return iter(())


class FrozenTeacher(TeacherPolicy):
    """Stage 1: no gradient, eval mode, not in the optimizer; weights stay bit-identical."""

    stage = 1

    def prepare(self, teacher: nn.Module) -> None:
        teacher.requires_grad_(False)
        teacher.eval()

    def on_train_epoch_start(self, teacher: nn.Module) -> None:
        teacher.eval()

    def scoring(self) -> ContextManager:
        # inference_mode skips autograd's version counting too; callers clone the results
        # (cheap: B x K scores) before they meet tensors that need gradients.
        return torch.inference_mode()


class CoTrainedTeacher(TeacherPolicy):
    """Stage 2: the teacher is unfrozen and learns from the student's soft labels too."""

    stage = 2
    trains_teacher = True

    def prepare(self, teacher: nn.Module) -> None:
        for name, parameter in teacher.named_parameters():
            # NeuralKG stores constants (margin, embedding_range) as frozen Parameters: keep them so.
            parameter.requires_grad_(parameter.numel() > 1)
        teacher.train()

    def trainable(self, teacher: nn.Module) -> Iterator[nn.Parameter]:
        return (p for p in teacher.parameters() if p.requires_grad)


def policy_for_stage(stage: int) -> TeacherPolicy:
    """The teacher policy of stage 1 or 2."""
    return {1: FrozenTeacher, 2: CoTrainedTeacher}[stage]()
