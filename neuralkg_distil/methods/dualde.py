"""DualDE (Zhu et al., WSDM 2022): per-triple soft / hard weights from gates, two stages."""
from __future__ import annotations

from neuralkg_distil.methods.base import DistillationMethod
from neuralkg_distil.methods.losses.dualde import DualDE_Loss
from neuralkg_distil.methods.registry import register_method


class DualDE(DistillationMethod):
    """DistilE's two stages with DualDE_Loss: SmoothL1 on sigmoids, calibrated gates by default."""

    name = "DualDE"
    loss_class = DualDE_Loss
    summary = "soft-label evaluation gates per triple (calibrated by default), two stages"
    flags = ("gate_lr", "soft_distance", "structure_weight")


register_method(DualDE())
