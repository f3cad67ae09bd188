"""What this package adds to NeuralKG's name spaces (called once on import; idempotent)."""
from __future__ import annotations

from neuralkg_distil.plugin.registry import register


def register_all() -> None:
    """Register the lit model, the losses, the sampler and our KGE models in NeuralKG's name spaces."""
    from neuralkg_distil.kge.roth import RotH
    from neuralkg_distil.training.distill_system import KGDistillLitModel
    from neuralkg_distil.methods.losses import DistilE_Loss, DualDE_Loss
    from neuralkg_distil.methods.losses.mulde import MulDE_Loss
    from neuralkg_distil.methods.losses.pretrain import MarginRanking_Loss
    from neuralkg_distil.training.pretrain_system import PretrainLitModel
    from neuralkg_distil.training.sampling import TorchUniSampler

    # distil_KGELitModel is the reference implementation's name for the same system.
    register("lit_model", KGDistillLitModel, "distil_KGELitModel")
    register("lit_model", PretrainLitModel)
    register("loss", DistilE_Loss)
    register("loss", DualDE_Loss)
    register("loss", MarginRanking_Loss)
    register("loss", MulDE_Loss)
    register("data", TorchUniSampler)
    register("model", RotH)
