"""Lightning's checkpoint I/O with this package's rules: atomic writes and safe reads."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from pytorch_lightning.plugins.io import TorchCheckpointIO

from neuralkg_distil.checkpoints import atomic_save, read_checkpoint


class SafeCheckpointIO(TorchCheckpointIO):
    """Writes through a temporary file + rename (Lightning 1.9 truncates the target first, so a
    crash mid-write destroys ``last.ckpt``) and reads with ``weights_only=True`` only (a resumed
    checkpoint is as untrusted as a teacher)."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Optional[Callable] = None) -> Dict[str, Any]:
        return read_checkpoint(path, "checkpoint to resume")
