"""Load a trained model (the teacher, or a stage-1 student) from a checkpoint and check it fits the run.

Two layouts are read: a NeuralKG/Lightning checkpoint (``state_dict`` with the ``model.`` prefix,
no record of the model class, so the class comes from the flags and the shapes are checked
against it), and this project's checkpoints, which also hold the :class:`ModelSpec` of every
model they contain under ``neuralkg_distil`` and so rebuild on their own.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from neuralkg_distil.checkpoint.files import CONFIG_KEY, config_of, read_checkpoint, state_dict_of
from neuralkg_distil.errors import CheckpointError
from neuralkg_distil.kge.adapter import adapter_for, registered_adapters
from neuralkg_distil.kge.spec import ModelSpec, build_model


def _guess_family(state: Dict[str, torch.Tensor]) -> str:
    """A best guess at which NeuralKG model wrote ``state``, for error messages only."""
    names = [adapter.name for adapter in registered_adapters() if adapter.looks_like(state)]
    if not names:
        return "an unknown model"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def infer_dim(model_name: str, state: Dict[str, torch.Tensor]) -> Optional[int]:
    """The embedding dimension ``model_name`` would have to produce these weights."""
    table = state.get("ent_emb.weight", state.get("ent_h_emb.weight"))
    if table is None or table.dim() != 2:
        return None
    width = adapter_for(model_name).entity_width
    return table.shape[1] // width if table.shape[1] % width == 0 else None


def _spec_from_state(
    model_name: str, state: Dict[str, torch.Tensor], num_ent: int, num_rel: int, path: str, what: str
) -> ModelSpec:
    dim = infer_dim(model_name, state)
    if dim is None:
        raise CheckpointError(
            f"{what} {path} does not hold {model_name} weights (it looks like {_guess_family(state)})"
        )
    margin = float(state["margin"].reshape(-1)[0]) if "margin" in state else 12.0
    return ModelSpec(model_name=model_name, emb_dim=dim, num_ent=num_ent, num_rel=num_rel, margin=margin)


def _check_against(spec: ModelSpec, state: Dict[str, torch.Tensor], model: nn.Module, path: str, what: str) -> None:
    """Compare the weights with a model built from the spec; say what differs in one line."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{what} {path} does not hold {spec.model_name} weights (it looks like {_guess_family(state)}; "
            f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'})"
        )
    ent_key = "ent_emb.weight" if "ent_emb.weight" in state else "ent_h_emb.weight"
    if state[ent_key].shape[0] != spec.num_ent:
        raise CheckpointError(
            f"{what} {path} has {state[ent_key].shape[0]} entities, the dataset has {spec.num_ent}"
        )
    if "rel_emb.weight" in state and state["rel_emb.weight"].shape[0] != spec.num_rel:
        raise CheckpointError(
            f"{what} {path} has {state['rel_emb.weight'].shape[0]} relations, the dataset has {spec.num_rel}"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{what} {path} does not hold {spec.model_name} weights (it looks like {_guess_family(state)}): "
                f"{key} has shape {tuple(state[key].shape)}, a {spec.model_name} of dim {spec.emb_dim} needs "
                f"{tuple(tensor.shape)}"
            )


def load_model(
    path: str | os.PathLike,
    *,
    model_name: str,
    num_ent: int,
    num_rel: int,
    dim: Optional[int] = None,
    prefix: str = "model.",
    what: str = "teacher checkpoint",
    dataset_checksum: Optional[str] = None,
    base_args: Optional[argparse.Namespace] = None,
) -> Tuple[nn.Module, ModelSpec]:
    """Rebuild the model stored under ``prefix`` in ``path`` and check it against the run.

    ``model_name``, ``num_ent`` and ``num_rel`` come from the flags and the data; ``dim`` (e.g.
    ``--teacher_dim``) is optional and checked when given. Raises :class:`CheckpointError` with
    a one-line message on any mismatch.
    """
    path = str(path)
    checkpoint = read_checkpoint(path, what)
    state = state_dict_of(checkpoint, prefix, path, what)
    config = config_of(checkpoint)
    saved = (config or {}).get("models", {}).get(prefix.rstrip("."))
    if saved is not None:
        try:
            spec = ModelSpec.from_dict(saved)
            spec = replace(spec, emb_dim=int(spec.emb_dim), num_ent=int(spec.num_ent), num_rel=int(spec.num_rel))
        except (TypeError, ValueError, AttributeError):
            raise CheckpointError(f"{what} {path}: its {CONFIG_KEY} entry is malformed ({saved!r:.80})") from None
        if spec.model_name != model_name:
            raise CheckpointError(f"{what} {path} holds a {spec.model_name} model, but the run asks for {model_name}")
        if (spec.num_ent, spec.num_rel) != (num_ent, num_rel):
            raise CheckpointError(
                f"{what} {path} was trained on {spec.num_ent} entities / {spec.num_rel} relations, "
                f"the dataset has {num_ent} / {num_rel}"
            )
        saved_checksum = config.get("dataset_checksum")
        if dataset_checksum and saved_checksum and saved_checksum != dataset_checksum:
            raise CheckpointError(
                f"{what} {path} was trained on a dataset whose entities.dict/relations.dict differ from this one's"
            )
    else:
        spec = _spec_from_state(model_name, state, num_ent, num_rel, path, what)
    if "margin" in state:  # the saved gamma is the one the scores were trained with
        spec = replace(spec, margin=float(state["margin"].reshape(-1)[0]))
    if dim is not None and dim != spec.emb_dim:
        raise CheckpointError(f"{what} {path} has dimension {spec.emb_dim}, but the flags say {dim}")
    model = build_model(spec, base_args)
    _check_against(spec, state, model, path, what)
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{what} {path}: {key} holds NaN or infinite values; it cannot teach")
    model.load_state_dict(state)
    return model, spec
