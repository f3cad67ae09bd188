"""Lightning callbacks that add behaviour around NeuralKG's own lit models."""
from __future__ import annotations

from typing import Any, Dict

import pytorch_lightning as pl

from neuralkg_distil.checkpoint.files import CONFIG_KEY, FORMAT_VERSION


class RunConfigCallback(pl.Callback):
    """Store the specs that rebuild the run's models inside every checkpoint it writes.

    Our own lit model does this itself; this callback gives NeuralKG's ``KGELitModel``
    (teacher pretraining) checkpoints that load from the file alone.
    """

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = {"format": FORMAT_VERSION, **config}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = dict(self.config)


class KeepStartingPoint(pl.Callback):
    """Stage 2: validate the starting student before the first step and make it the best checkpoint.

    Stage 2 co-trains an unfrozen teacher from the stage-1 student at a new learning rate; it can
    make the student worse (docs/results.md, round 3b). Seeded with the start's validation MRR, the
    checkpoint callback keeps ``best.ckpt`` = the starting point unless a stage-2 validation beats
    it, and early stopping counts its patience from there: stage 2 never hands back a student
    that is worse on validation than the one it started from. A resumed run is left as it was.
    """

    def __init__(self, evaluator: Any, valid_triples: Any, checkpoint: Any, early_stop: Any,
                 monitor: str = "mrr") -> None:
        self.evaluator, self.valid = evaluator, valid_triples
        self.checkpoint, self.early_stop, self.monitor = checkpoint, early_stop, monitor
        self.start_score: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import os

        import torch

        if trainer.current_epoch > 0 or trainer.global_step > 0:  # resumed: the callbacks' state is restored
            return
        was_training = pl_module.model.training
        pl_module.model.eval()
        with torch.no_grad():
            value = self.evaluator.evaluate(pl_module.model, self.valid.to(pl_module.device))[self.monitor]
        pl_module.model.train(was_training)
        score = torch.tensor(float(value))
        path = os.path.join(self.checkpoint.dirpath, f"{self.checkpoint.filename}{self.checkpoint.FILE_EXTENSION}")
        trainer.save_checkpoint(path)
        self.checkpoint.best_model_score = self.checkpoint.kth_value = score
        self.checkpoint.best_model_path = self.checkpoint.kth_best_model_path = path
        self.checkpoint.best_k_models = {path: score}
        self.early_stop.best_score = score
        self.early_stop.wait_count = 0
        self.start_score = float(value)
        print(f"stage 2 starts from valid MRR {value:.4f} (kept as best.ckpt unless stage 2 beats it)")
