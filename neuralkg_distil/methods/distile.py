"""DistilE (Zhu et al., 2022): soft labels chosen by the model's loss family, fixed alpha / beta."""
from __future__ import annotations

from neuralkg_distil.methods.base import DistillationMethod
from neuralkg_distil.methods.losses.distile import DistilE_Loss
from neuralkg_distil.methods.registry import register_method


class DistilE(DistillationMethod):
    """Teacher frozen in stage 1, both models learning from each other in stage 2; DistilE_Loss."""

    name = "DistilE"
    loss_class = DistilE_Loss
    summary = "margin or cross-entropy soft labels by model family, fixed alpha / beta"
    flags = ("distil_family", "distil_adversarial", "rank_margin")


register_method(DistilE())
