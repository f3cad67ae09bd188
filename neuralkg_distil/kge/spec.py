"""Build NeuralKG KGE models from a small spec, so a checkpoint can rebuild them on its own."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Dict

from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import adapter_for, registered_adapters

# Models with a fast path (registered adapters with a scorer); any other NeuralKG KGE with the
# same API takes NeuralKG's own scoring.
SUPPORTED_MODELS = tuple(a.name for a in registered_adapters() if a.scorer is not None)


@dataclass(frozen=True)
class ModelSpec:
    """What it takes to rebuild a NeuralKG KGE model (its weights aside)."""

    model_name: str
    emb_dim: int
    num_ent: int
    num_rel: int
    margin: float = 12.0
    norm_flag: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ModelSpec":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @classmethod
    def from_args(cls, args: argparse.Namespace, num_ent: int, num_rel: int, **overrides: Any) -> "ModelSpec":
        values = dict(
            model_name=args.model_name,
            emb_dim=args.emb_dim,
            num_ent=num_ent,
            num_rel=num_rel,
            margin=args.margin,
            norm_flag=bool(getattr(args, "norm_flag", False)),
        )
        values.update(overrides)
        return cls(**values)


@lru_cache(maxsize=1)
def _neuralkg_defaults() -> Dict[str, Any]:
    from neuralkg.utils import setup_parser

    return vars(setup_parser().parse_args([]))


def model_class(name: str) -> type:
    """NeuralKG's (or a registered) model class called ``name``; a clear error lists the valid ones."""
    import importlib

    # importlib, not attribute access: NeuralKG's star imports rebind the attribute neuralkg.model.
    cls = getattr(importlib.import_module("neuralkg.model"), name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        from neuralkg_distil.plugin.namespaces import available_names

        from neuralkg_distil.errors import did_you_mean

        names = available_names("model", nn.Module)
        raise ConfigError(f"unknown model {name!r} (--model_name / --teacher_model); NeuralKG knows: {', '.join(names)}"
                          f"{did_you_mean(name, names)}")
    return cls


def model_args(spec: ModelSpec, base: argparse.Namespace | None = None) -> argparse.Namespace:
    """A private args namespace for one model: NeuralKG models read their sizes from ``args``."""
    values = dict(_neuralkg_defaults())
    if base is not None:
        values.update(vars(base))
    values.update(spec.to_dict())
    return argparse.Namespace(**values)


def build_model(spec: ModelSpec, base: argparse.Namespace | None = None) -> nn.Module:
    """A freshly initialised NeuralKG model for ``spec`` (its own args copy, never a shared one)."""
    if spec.emb_dim <= 0:
        raise ConfigError(f"embedding dimension must be positive, got {spec.emb_dim}")
    return model_class(spec.model_name)(model_args(spec, base))


def parameter_count(model: nn.Module) -> int:
    """Number of trainable-size parameters (embeddings), excluding NeuralKG's constant scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or p.numel() > 1)


def entity_vectors(model: nn.Module, idx: Tensor) -> Tensor:
    """The vector that represents each entity in ``idx`` (for DualDE's structure term)."""
    return adapter_for(model).entity_vectors(model, idx)


def n3_penalty(model: nn.Module) -> Tensor:
    """Sum of |x|^3 over the model's entity and relation tables (its adapter's ``regularised_tables``;
    N3, used with ComplEx / DistMult)."""
    total = None
    for table in adapter_for(model).regularised_tables(model):
        value = table.weight.abs().pow(3).sum()
        total = value if total is None else total + value
    if total is None:
        raise ConfigError(f"--regularization needs embedding tables; {type(model).__name__} has none")
    return total
