"""Lightning callbacks that add behaviour around NeuralKG's own lit models."""
from __future__ import annotations

from typing import Any, Dict

import pytorch_lightning as pl

from neuralkg_distil.checkpoints import CONFIG_KEY, FORMAT_VERSION


class RunConfigCallback(pl.Callback):
    """Store the specs that rebuild the run's models inside every checkpoint it writes.

    Our own lit model does this itself; this callback gives NeuralKG's ``KGELitModel``
    (teacher pretraining) checkpoints that load from the file alone.
    """

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = {"format": FORMAT_VERSION, **config}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = dict(self.config)
