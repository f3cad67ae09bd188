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
    """Stage 1: no gradient, eval mode, not in the optimizer; weights stay bit-identical.

    With ``bf16`` the teacher's forward runs under bfloat16 autocast on its device (meant for
    GPUs; scores come back in bfloat16 and are cloned to the student's dtype by the caller).
    """

    stage = 1

    def __init__(self, bf16: bool = False) -> None:
        self.bf16 = bf16
        self.device_type = "cpu"

    def prepare(self, teacher: nn.Module) -> None:
        teacher.requires_grad_(False)
        teacher.eval()

    def on_train_epoch_start(self, teacher: nn.Module) -> None:
        teacher.eval()
        self.device_type = next(teacher.parameters()).device.type

    def scoring(self) -> ContextManager:
        # inference_mode skips autograd's version counting too; callers clone the results
        # (cheap: B x K scores) before they meet tensors that need gradients.
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.bf16:
            stack.enter_context(torch.autocast(device_type=self.device_type, dtype=torch.bfloat16))
        return stack


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


def policy_for_stage(stage: int, teacher_bf16: bool = False) -> TeacherPolicy:
    """The teacher policy of stage 1 (optionally with a bfloat16 teacher) or 2."""
    return FrozenTeacher(bf16=teacher_bf16) if stage == 1 else CoTrainedTeacher()
