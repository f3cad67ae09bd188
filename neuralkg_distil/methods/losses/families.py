"""Which loss family a KGE model belongs to (DistilE picks its hard and soft terms by family)."""
from __future__ import annotations

from typing import Optional

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import CROSS_ENTROPY, LOSS_FAMILIES, MARGIN, adapter_for

FAMILIES = LOSS_FAMILIES


def family_of(model_name: str, override: Optional[str] = None) -> str:
    """The loss family for ``model_name`` (its adapter's ``loss_family``: margin for the distance
    models the papers train with a margin ranking loss, else ce); ``override`` ("auto", "margin",
    "ce") wins if set."""
    if override not in (None, "", "auto"):
        if override not in FAMILIES:
            raise ConfigError(f"--distil_family must be auto, {MARGIN} or {CROSS_ENTROPY}, got {override!r}")
        return override
    return adapter_for(model_name).loss_family
