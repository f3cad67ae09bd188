"""``load(path)``: a :class:`~neuralkg_distil.serving.predictor.KGEModelHandle` from a checkpoint or an export folder.

``load(path)`` rebuilds a model from one of our checkpoints (the student ``model.*`` by default,
``role="teacher"`` for the teacher), from a NeuralKG checkpoint (``model_name=`` needed, it does not
record its class), or from a folder written by ``export``. The dataset dictionaries come from the
folder the checkpoint records (``data_path`` in its ``neuralkg_distil`` entry) or from ``data_path=``;
their checksum is checked against the one the checkpoint records.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from neuralkg_distil.errors import CheckpointError
from neuralkg_distil.serving.dictionaries import find_data, read_dictionaries
from neuralkg_distil.serving.export import load_export
from neuralkg_distil.serving.predictor import KGEModelHandle


def load(path: str | os.PathLike, data_path: Optional[str | os.PathLike] = None, *, role: str = "model",
         model_name: Optional[str] = None, device: str | torch.device = "cpu") -> KGEModelHandle:
    """Rebuild a trained model from a checkpoint (ours or NeuralKG's) or an ``export`` folder."""
    # No ``import neuralkg_distil`` for registration here: importing this module already ran the
    # package __init__, which installs the hook that registers our classes.
    from neuralkg_distil.checkpoint.files import config_of, dictionary_checksum, read_checkpoint
    from neuralkg_distil.checkpoint.rebuild import load_model

    path = Path(path)
    if path.is_dir():
        return load_export(path, data_path, device)
    checkpoint = read_checkpoint(path, "checkpoint")
    config = config_of(checkpoint) or {}
    data = find_data(config.get("data_path"), data_path)
    entities, relations = read_dictionaries(data)
    checksum = config.get("dataset_checksum")
    if data is not None and checksum and dictionary_checksum(data) != checksum:
        raise CheckpointError(f"checkpoint {path} was trained on a dataset whose entities.dict/relations.dict differ from {data}'s")
    name, num_ent, num_rel = _model_sizes(checkpoint, config, path, role, model_name, entities, relations)
    if entities is not None and (len(entities), len(relations)) != (num_ent, num_rel):
        raise CheckpointError(f"checkpoint {path} has {num_ent} entities / {num_rel} relations, {data} has "
                              f"{len(entities)} / {len(relations)}")
    model, spec = load_model(path, model_name=name, num_ent=num_ent, num_rel=num_rel, prefix=f"{role}.",
                             what="checkpoint", dataset_checksum=None)
    return KGEModelHandle(model.to(device), spec, entities=entities, relations=relations, data_path=data,
                          dataset_checksum=checksum, source=f"checkpoint {path}", role=role,
                          metrics=_recorded_metrics(path, role))


def _model_sizes(checkpoint: Any, config: Dict[str, Any], path: Path, role: str, model_name: Optional[str],
                 entities: Optional[List[str]], relations: Optional[List[str]]) -> Tuple[str, int, int]:
    """``(model class, num_ent, num_rel)`` of the ``role`` model: as recorded, or for a NeuralKG checkpoint
    from ``model_name`` and the dictionaries (else the embedding tables' shapes)."""
    from neuralkg_distil.checkpoint.files import state_dict_of
    from neuralkg_distil.kge.spec import ModelSpec

    saved = config.get("models", {}).get(role)
    if saved is not None:
        spec = ModelSpec.from_dict(saved)
        if model_name is not None and model_name != spec.model_name:
            raise CheckpointError(f"checkpoint {path} holds a {spec.model_name} {role}, not {model_name}")
        return spec.model_name, int(spec.num_ent), int(spec.num_rel)
    roles = sorted(config.get("models", {}))
    if roles:
        raise CheckpointError(f"checkpoint {path} holds no {role!r} model (it has: {', '.join(roles)})")
    if model_name is None:
        raise CheckpointError(f"checkpoint {path} does not record its model class (a NeuralKG checkpoint): pass model_name= / --model_name")
    state = state_dict_of(checkpoint, f"{role}.", path, "checkpoint")
    ent = state.get("ent_emb.weight", state.get("ent_h_emb.weight"))
    rel = state.get("rel_emb.weight")
    num_ent = len(entities) if entities is not None else int(ent.shape[0]) if ent is not None else 0
    num_rel = len(relations) if relations is not None else int(rel.shape[0]) if rel is not None else 0
    return model_name, num_ent, num_rel


def _recorded_metrics(path: Path, role: str) -> Optional[Dict[str, Any]]:
    """The ``valid`` / ``test`` / ``params`` entries of the role in the ``results.json`` beside the checkpoint."""
    results = path.parent / "results.json"
    if not results.is_file():
        return None
    try:
        metrics = json.loads(results.read_text()).get("models", {}).get(role)
        return {k: metrics[k] for k in ("valid", "test", "params") if k in metrics} if metrics else None
    except (ValueError, AttributeError):
        return None
