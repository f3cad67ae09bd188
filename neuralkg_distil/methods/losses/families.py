"""Which loss family a KGE model belongs to (DistilE picks its hard and soft terms by family)."""
from __future__ import annotations

from typing import Optional

from neuralkg_distil.errors import ConfigError

MARGIN = "margin"
CROSS_ENTROPY = "ce"
FAMILIES = (MARGIN, CROSS_ENTROPY)

# Distance models trained with a margin ranking loss in the papers; every other KGE
# (ComplEx, RotatE, DistMult, SimplE, ...) is trained with a logistic / cross-entropy loss.
_MARGIN_MODELS = frozenset({"TransE", "TransH", "TransR"})


def family_of(model_name: str, override: Optional[str] = None) -> str:
    """The loss family for ``model_name``; ``override`` ("auto", "margin", "ce") wins if set."""
    if override not in (None, "", "auto"):
        if override not in FAMILIES:
            raise ConfigError(f"--distil_family must be auto, {MARGIN} or {CROSS_ENTROPY}, got {override!r}")
        return override
    return MARGIN if model_name in _MARGIN_MODELS else CROSS_ENTROPY
