"""Soft-weight schedules: how much a distillation loss leans on its soft labels at each epoch.

IterDE's observation: early in training the hard and soft labels pull a random student in
different directions, so the soft weight should start small and grow. A schedule gives a factor
f(epoch) in [0, 1] that multiplies every soft weight of a loss (a fixed alpha / beta, the learned
per-element gates, and the listwise term's weight): ``constant`` is 1 throughout (a method's
fixed alpha is this case), ``linear`` and ``power`` ramp from 0 to 1 over the warm-up
(``(epoch / warmup) ** power``, linear being power 1), ``step`` is 0 before the warm-up ends and 1
after.

``anneal`` runs the other way (teacher annealing, Clark et al. 2019, "BAM!"): the soft weight starts
at 1 and falls linearly to 0 over the warm-up, after which the student trains on hard labels only.
It serves a student that is too small to hold the teacher's view: the soft labels give it a fast
start (every soft-label student of round 5 led no-DS in its first epochs), and the hard labels
decide where it ends, so the teacher cannot pull it off the hard-label optimum late in training.
"""
from __future__ import annotations

from dataclasses import dataclass

from neuralkg_distil.errors import ConfigError

SCHEDULES = ("constant", "linear", "power", "step", "anneal")


@dataclass(frozen=True)
class SoftWeightSchedule:
    """``factor(epoch)`` (epochs counted from 0, as Lightning does) for one of :data:`SCHEDULES`."""

    kind: str = "constant"
    warmup: int = 0  # epochs of the ramp (linear, power, anneal) or before the step
    power: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(f"--soft_weight_schedule must be one of {', '.join(SCHEDULES)}, got {self.kind!r}")
        if self.warmup < 0:
            raise ConfigError(f"--soft_weight_warmup must be >= 0, got {self.warmup}")
        if self.kind != "constant" and self.warmup == 0:
            raise ConfigError(f"--soft_weight_schedule {self.kind} needs --soft_weight_warmup > 0 (epochs)")
        if self.power <= 0:
            raise ConfigError(f"--soft_weight_power must be > 0, got {self.power}")

    def factor(self, epoch: int) -> float:
        """The multiplier of every soft weight in this epoch, in [0, 1]."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return 1.0 if epoch >= self.warmup else 0.0
        progress = min(1.0, epoch / self.warmup)
        if self.kind == "anneal":
            return 1.0 - progress
        return progress if self.kind == "linear" else progress**self.power
