"""Distillation losses: pure functions of scores (and, for the structure term, entity vectors)."""
from neuralkg_distil.methods.losses.base import DistillationLoss, EntityPairs, LossSettings
from neuralkg_distil.methods.losses.distile import DistilE_Loss
from neuralkg_distil.methods.losses.dualde import DualDE_Loss
from neuralkg_distil.methods.losses.families import family_of
from neuralkg_distil.methods.losses.terms import Scores

__all__ = ["DistillationLoss", "DistilE_Loss", "DualDE_Loss", "EntityPairs", "LossSettings", "Scores", "family_of"]
