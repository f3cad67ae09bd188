"""Lightning's checkpoint I/O with this package's rules (atomic writes, safe reads), and a
checkpoint callback that survives a moved run folder."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from neuralkg_distil.checkpoint.files import atomic_save, read_checkpoint


class SafeCheckpointIO(TorchCheckpointIO):
    """Writes through a temporary file + rename (Lightning 1.9 truncates the target first, so a
    crash mid-write destroys ``last.ckpt``) and reads with ``weights_only=True`` only (a resumed
    checkpoint is as untrusted as a teacher)."""

    def __init__(self, preloaded: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        # Checkpoints the caller has already read (and checked), by path: not read a second time.
        self.preloaded = {os.path.realpath(p): c for p, c in (preloaded or {}).items()}

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Optional[Callable] = None) -> Dict[str, Any]:
        preloaded = self.preloaded.pop(os.path.realpath(path), None)
        return preloaded if preloaded is not None else read_checkpoint(path, "checkpoint to resume")


def _moved(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old):]
    return value


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that follows a run folder that was moved or copied before a resume.

    Lightning 1.9 restores only ``best_model_path`` when the saved ``dirpath`` differs: the resumed
    run then writes ``last-v1.ckpt`` beside the old files, reports the old folder's best model, and
    may delete checkpoints in the old folder when it finds a better one. Here the saved paths are
    moved into the new folder first, so a moved run resumes as if it had never moved.
    """

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and os.path.realpath(old) != os.path.realpath(new):
            state_dict = {key: _moved(value, old, new) for key, value in state_dict.items()}
            state_dict["dirpath"] = new
            if isinstance(state_dict.get("best_k_models"), dict):
                state_dict["best_k_models"] = {_moved(k, old, new): v for k, v in state_dict["best_k_models"].items()}
        super().load_state_dict(state_dict)
