"""Export folders: a model's tables (npy, safetensors or pt), its name dictionaries and a JSON manifest.

:func:`export` writes one; :func:`load_export` reads one back into a
:class:`~neuralkg_distil.serving.predictor.KGEModelHandle`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

from neuralkg_distil.errors import CheckpointError, ConfigError
from neuralkg_distil.serving.dictionaries import find_data, read_dictionaries
from neuralkg_distil.serving.predictor import KGEModelHandle

MANIFEST = "manifest.json"
FORMATS = ("npy", "safetensors", "pt")


def need_safetensors() -> None:
    """Raise ConfigError (with the pip command) when the safetensors package is missing."""
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        raise ConfigError("--format safetensors needs the safetensors package: pip install safetensors") from None


def check_empty(out: Path) -> None:
    """Refuse an export folder that already holds files (nothing is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"export folder {out} already holds files; pick an empty or new folder")


# ---------------------------------------------------------------------- writing
def export(handle: KGEModelHandle, out: str | os.PathLike, fmt: str = "npy", source: Optional[str] = None) -> Path:
    """Write the model's tables, the name dictionaries and a JSON manifest into the empty folder ``out``."""
    from neuralkg_distil.checkpoint.files import atomic_write_json, atomic_write_text

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "safetensors":
        need_safetensors()
    handle.require_names()
    out = Path(out)
    check_empty(out)
    tables = {k: v.detach().cpu().contiguous() for k, v in handle.model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    files = _write_tables(tables, out, fmt)
    assert handle.entities is not None and handle.relations is not None
    atomic_write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(handle.entities)), out / "entities.dict")
    atomic_write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(handle.relations)), out / "relations.dict")
    atomic_write_json(_manifest(handle, fmt, tables, files, source), out / MANIFEST)
    return out


def _write_tables(tables: Dict[str, Tensor], out: Path, fmt: str) -> List[str]:
    """Write the tables in one format; returns the file names written."""
    if fmt == "npy":
        import numpy as np

        for key, tensor in tables.items():
            np.save(out / f"{key}.npy", tensor.numpy())
        return [f"{key}.npy" for key in tables]
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(tables, str(out / "tables.safetensors"))
        return ["tables.safetensors"]
    torch.save(tables, out / "tables.pt")
    return ["tables.pt"]


def _manifest(handle: KGEModelHandle, fmt: str, tables: Dict[str, Tensor], files: List[str],
              source: Optional[str]) -> Dict[str, Any]:
    """What the folder holds: the model spec, table shapes, files, dataset checksum, where it came from."""
    from neuralkg_distil.kge.spec import parameter_count

    spec = handle.spec.to_dict()
    return {
        "format": fmt,
        "model": spec["model_name"],
        "role": handle.role,
        "dim": int(spec["emb_dim"]),
        "num_ent": int(spec["num_ent"]),
        "num_rel": int(spec["num_rel"]),
        "params": parameter_count(handle.model),
        "spec": spec,
        "tables": {k: list(v.shape) for k, v in tables.items()},
        "files": files + ["entities.dict", "relations.dict"],
        "dataset_checksum": handle.dataset_checksum,
        "data_path": str(handle.data_path.resolve()) if handle.data_path is not None else None,
        "source": source or handle.source,
        "metrics": handle.metrics,
    }


# ---------------------------------------------------------------------- reading
def load_export(folder: Path, data_path: Optional[str | os.PathLike], device: str | torch.device) -> KGEModelHandle:
    """Rebuild the model of an export folder (dictionaries from ``data_path`` if given, else the folder's)."""
    from neuralkg_distil.checkpoint.files import dictionary_checksum
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{folder} is not an export folder (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    spec = ModelSpec.from_dict(manifest["spec"])
    tables = _read_tables(folder, manifest)
    model = build_model(spec)
    try:
        model.load_state_dict(tables)
    except RuntimeError as exc:
        raise CheckpointError(f"export {folder}: tables do not fit a {spec.model_name} ({str(exc).splitlines()[0]})") from None
    dictionaries = Path(data_path) if data_path is not None else folder
    data = find_data(str(dictionaries), None)
    entities, relations = read_dictionaries(data)
    if data is not None and manifest.get("dataset_checksum") and dictionary_checksum(data) != manifest["dataset_checksum"]:
        raise CheckpointError(f"export {folder} was made for a dataset whose dictionaries differ from {data}'s")
    # the triples for filtering: the data_path given, else the one the checkpoint recorded
    triples_dir = Path(data_path) if data_path is not None else Path(manifest.get("data_path") or folder)
    return KGEModelHandle(model.to(device), spec, entities=entities, relations=relations, data_path=triples_dir,
                          dataset_checksum=manifest.get("dataset_checksum"), source=f"export {folder}",
                          role=manifest.get("role", "model"), metrics=manifest.get("metrics"))


def _read_tables(folder: Path, manifest: Dict[str, Any]) -> Dict[str, Tensor]:
    """The tables of an export folder, in the format its manifest names."""
    fmt = manifest["format"]
    if fmt == "npy":
        import numpy as np

        return {key: torch.from_numpy(np.load(folder / f"{key}.npy")) for key in manifest["tables"]}
    if fmt == "safetensors":
        need_safetensors()
        from safetensors.torch import load_file

        return load_file(str(folder / "tables.safetensors"))
    return torch.load(folder / "tables.pt", map_location="cpu", weights_only=True)
