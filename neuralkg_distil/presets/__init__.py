"""Training recipes as data (``recipes.yaml``): the papers' settings per dataset and model.

The shell scripts, the sweeps, the experiment runner and ``--preset`` on the command line all read
the same file; flags given explicitly always win over a preset's values.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from neuralkg_distil.errors import ConfigError

PHASES = ("pretrain", "stage1", "stage2")
RECIPES_FILE = Path(__file__).with_name("recipes.yaml")


@lru_cache(maxsize=1)
def recipes() -> Dict[str, Any]:
    """The parsed ``recipes.yaml`` (read once)."""
    import yaml

    return yaml.safe_load(RECIPES_FILE.read_text(encoding="utf-8")) or {}


def preset_names() -> List[str]:
    """Every ``<dataset>/<model>`` and ``<dataset>/<model>/<variant>`` the recipes define."""
    data = recipes()
    models, variants = sorted(data.get("models", {})), sorted(data.get("variants", {}))
    names = []
    for dataset in sorted(data.get("datasets", {})):
        names += [f"{dataset}/{m}" for m in models] + [f"{dataset}/{m}/{v}" for m in models for v in variants]
    return names


def resolve_name(name: str, data_path: Optional[str], model_name: Optional[str]) -> Tuple[str, str, Optional[str]]:
    """``(dataset, model, variant)`` of ``--preset NAME``; ``auto`` reads the data folder and model."""
    data = recipes()
    if name == "auto":
        dataset = Path(str(data_path or "")).name
        parts = [dataset, str(model_name)]
    else:
        parts = name.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"--preset must be auto, none, <dataset>/<model> or <dataset>/<model>/<variant>, got {name!r}")
    dataset, model = parts[0], parts[1]
    variant = parts[2] if len(parts) == 3 else None
    if variant is not None and variant not in data.get("variants", {}):
        raise ConfigError(f"--preset {name}: unknown variant {variant!r}; variants: {', '.join(sorted(data.get('variants', {})))}")
    return dataset, model, variant


def _section(mapping: Optional[Mapping[str, Any]], phase: str) -> List[Mapping[str, Any]]:
    mapping = mapping or {}
    return [mapping.get("common") or {}, mapping.get(phase) or {}]


def preset_values(dataset: str, model: str, phase: str, variant: Optional[str] = None) -> Dict[str, Any]:
    """Merged flag values of one recipe for ``phase`` (pretrain, stage1 or stage2)."""
    if phase not in PHASES:
        raise ConfigError(f"unknown phase {phase!r}; valid: {', '.join(PHASES)}")
    data = recipes()
    layers = _section(data.get("defaults"), phase) + _section(data.get("models", {}).get(model), phase)
    layers += _section((data.get("datasets", {}).get(dataset) or {}).get(model), phase)
    if variant is not None:
        layers += _section(data["variants"][variant], phase)
    merged: Dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def known_model(model: str) -> bool:
    """Whether the recipes hold values for ``model``."""
    return model in (recipes().get("models") or {})


def known_dataset(dataset: str) -> bool:
    """Whether the recipes hold dataset-specific values for ``dataset``."""
    return dataset in (recipes().get("datasets") or {})
