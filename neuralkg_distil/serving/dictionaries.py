"""A dataset's name dictionaries (NeuralKG's ``entities.dict`` / ``relations.dict``): finding and reading them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from neuralkg_distil.errors import DatasetError


def read_dictionary(path: Path) -> List[str]:
    """Names by id from a NeuralKG ``entities.dict`` / ``relations.dict`` (``id<TAB>name`` lines)."""
    names: Dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip().lstrip("-").isdigit():
            raise DatasetError(f"{path}:{number}: expected 'id<TAB>name'")
        names[int(parts[0])] = parts[1].strip()
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"{path}: ids are not 0..{len(names) - 1}")
    return [names[i] for i in range(len(names))]


def read_dictionaries(folder: Optional[Path]) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    """``(entities, relations)`` of a dataset folder; ``(None, None)`` without one."""
    if folder is None:
        return None, None
    return read_dictionary(folder / "entities.dict"), read_dictionary(folder / "relations.dict")


def find_data(recorded: Optional[str], given: Optional[str | os.PathLike]) -> Optional[Path]:
    """The folder holding the dictionaries: ``given`` (which must hold them), else ``recorded`` if it does."""
    if given is not None:
        path = Path(given)
        if not (path / "entities.dict").is_file() or not (path / "relations.dict").is_file():
            raise DatasetError(f"{path} holds no entities.dict and relations.dict (data_path / --data_path)")
        return path
    if recorded and (Path(recorded) / "entities.dict").is_file() and (Path(recorded) / "relations.dict").is_file():
        return Path(recorded)
    return None
