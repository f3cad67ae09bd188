"""Reading checkpoints safely and writing files atomically.

A checkpoint can come from anyone, so it is only ever read with ``weights_only=True``: a
pickle that would run code is refused before anything in it executes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch

from neuralkg_distil.errors import CheckpointError

CONFIG_KEY = "neuralkg_distil"  # where our checkpoints keep the specs that rebuild their models
FORMAT_VERSION = 1


def read_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> Dict[str, Any]:
    """Load a checkpoint's dict on the CPU without unpickling code; one-line errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path} is empty")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).strip().splitlines()
        reason = next((line for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0] if detail else "")
        raise CheckpointError(
            f"{what} {path} holds pickled objects that are not plain tensors or containers; refusing "
            f"to load it (it could run code): {reason.strip()}"
        ) from None
    except Exception as exc:  # noqa: BLE001  (torch's unpickler raises anything on garbage: IndexError, KeyError...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{what} {path} is truncated or not a PyTorch checkpoint ({first})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path} holds a {type(data).__name__}, expected a checkpoint dict")
    return data


def state_dict_of(checkpoint: Dict[str, Any], prefix: str, path: str | os.PathLike, what: str) -> Dict[str, torch.Tensor]:
    """The sub-state-dict under ``prefix`` (e.g. ``model.``), from a Lightning or a plain state dict."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict):
        raise CheckpointError(f"{what} {path} has no state_dict")
    sub = {k[len(prefix):]: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    for key, value in sub.items():
        if not torch.is_tensor(value):
            raise CheckpointError(f"{what} {path}: {prefix}{key} is a {type(value).__name__}, not a tensor")
    if not sub:
        found = sorted({k.split(".", 1)[0] + "." for k in state if isinstance(k, str)})
        raise CheckpointError(
            f"{what} {path} has no weights under {prefix!r} (found prefixes: {', '.join(found) or 'none'})"
        )
    return sub


# What Lightning writes into a checkpoint it can continue training from.
TRAINING_STATE_KEYS = ("pytorch-lightning_version", "epoch", "global_step", "loops", "optimizer_states")


def check_fits(
    module: torch.nn.Module,
    checkpoint: Dict[str, Any],
    path: str | os.PathLike,
    what: str,
    prefixes: Optional[Tuple[str, ...]] = None,
    training: bool = False,
) -> None:
    """Check that ``checkpoint['state_dict']`` loads into ``module``; one-line error otherwise.

    ``prefixes`` limits the check to the weights that will be used (e.g. ``model.`` for a test);
    ``training`` also requires Lightning's training state and no weights the module lacks, as
    resuming loads strictly.
    """
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{what} {path} has no state_dict: it is not a checkpoint written by a training run")
    if training:
        missing_state = [key for key in TRAINING_STATE_KEYS if key not in checkpoint]
        if missing_state:
            raise CheckpointError(
                f"{what} {path} holds no training state (no {', '.join(missing_state)}): "
                "only a last.ckpt written by a run can be resumed"
            )
    expected = {k: v for k, v in module.state_dict().items() if prefixes is None or k.startswith(prefixes)}
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"{what} {path} lacks {len(missing)} weight(s) the run needs, e.g. {missing[0]!r}")
    if training:
        unexpected = [k for k in state if k not in expected]
        if unexpected:
            raise CheckpointError(f"{what} {path} holds weights the run does not have, e.g. {unexpected[0]!r}")
    for key, tensor in expected.items():
        saved = state[key]
        if not torch.is_tensor(saved):
            raise CheckpointError(f"{what} {path}: {key} is a {type(saved).__name__}, not a tensor")
        if tuple(saved.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{what} {path}: {key} has shape {tuple(saved.shape)}, the run's flags give {tuple(tensor.shape)}"
            )


def config_of(checkpoint: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Our saved run config, or None for a checkpoint NeuralKG wrote."""
    config = checkpoint.get(CONFIG_KEY)
    return config if isinstance(config, dict) else None


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make shared results unreadable to others
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save to a temporary file beside ``path``, then rename: a crash never leaves half a file."""
    return _atomic(Path(path), lambda handle: torch.save(obj, handle))


def atomic_write_json(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically (temporary file + rename)."""
    text = json.dumps(data, indent=2, sort_keys=True).encode()
    return _atomic(Path(path), lambda handle: handle.write(text + b"\n"))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text atomically (temporary file + rename)."""
    data = text.encode("utf-8")
    return _atomic(Path(path), lambda handle: handle.write(data))


def atomic_write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: str | os.PathLike) -> Path:
    """Write ``rows`` as CSV with exactly ``columns`` (missing keys empty, extra keys left out), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in columns})
    return atomic_write_text(buffer.getvalue(), path)


def dictionary_checksum(data_path: str | os.PathLike) -> str:
    """SHA-256 of entities.dict + relations.dict: two graphs with other id numbering differ here."""
    digest = hashlib.sha256()
    for name in ("entities.dict", "relations.dict"):
        digest.update((Path(data_path) / name).read_bytes())
    return digest.hexdigest()
