"""One training, assembled from small steps: settings -> data -> system -> trainer -> fit -> test.

:func:`train` is the one entry point every command uses (the CLI, ``demo``, ``iterate``, the
experiment runner's jobs). Each step is a function of its own:

* :meth:`RunSettings.from_args` checks the flags once and plans the folders (nothing written);
* :func:`build_data` reads the dataset through NeuralKG's samplers and data module;
* the run's :class:`~neuralkg_distil.run.kinds.TrainingKind` builds the training system (a
  pretraining, or a distillation stage through its registered method);
* :func:`build_callbacks`, :func:`build_loggers` and :func:`build_trainer` assemble the trainer;
* :func:`fit` trains and reloads the best checkpoint;
* :func:`test` evaluates every role through Lightning's test loop;
* :func:`write_results` saves ``results.json`` and reports.
"""
from __future__ import annotations

import argparse
import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.run.folder import RESULTS_FILE, log_version, prepare_stage_dir
from neuralkg_distil.run.kinds import System
from neuralkg_distil.run.settings import RunSettings


@dataclass
class RunData:
    """The dataset of a run, read through NeuralKG's sampler and data module."""

    sampler: Any
    datamodule: Any
    num_ent: int
    num_rel: int
    checksum: str

    def model_args(self, args: argparse.Namespace) -> argparse.Namespace:
        """A copy of the flags with the dataset's sizes (NeuralKG models read them from ``args``)."""
        return argparse.Namespace(**{**vars(args), "num_ent": self.num_ent, "num_rel": self.num_rel})

    def evaluator(self, args: argparse.Namespace) -> Any:
        """Filtered ranking against every known triple of the dataset."""
        from neuralkg_distil.evaluation.ranking import RankingEvaluator

        return RankingEvaluator.for_sampler(self.sampler, hits=tuple(args.calc_hits))


def build_data(settings: RunSettings) -> RunData:
    """Seed everything, then read the dataset (NeuralKG's samplers write num_ent/num_rel into the
    args they get: they get a copy)."""
    import pytorch_lightning as pl

    from neuralkg_distil.checkpoint.files import dictionary_checksum
    from neuralkg_distil.evaluation.whole_split import evaluate_whole_splits, multi_process
    from neuralkg_distil.run.checks import resolve

    args = settings.args
    pl.seed_everything(args.seed, workers=True)
    data_args = copy.copy(args)
    sampler = resolve("data", args.train_sampler_class, "--train_sampler_class")(data_args)
    test_sampler = resolve("data", args.test_sampler_class, "--test_sampler_class")(sampler)
    datamodule = resolve("data", args.data_class, "--data_class")(data_args, sampler, test_sampler)
    if args.train_bs == 0 and args.num_batches > len(sampler.train_triples):
        raise ConfigError(
            f"--num_batches {args.num_batches} is more than the {len(sampler.train_triples)} training triples; "
            "pass a smaller --num_batches or --train_bs N"
        )
    if multi_process(args):
        evaluate_whole_splits(datamodule)  # each DDP process ranks the whole split: exact, rank-independent metrics
    return RunData(sampler, datamodule, len(sampler.ent2id), len(sampler.rel2id), dictionary_checksum(args.data_path))


def build_system(settings: RunSettings, data: RunData) -> System:
    """The training system of the run's kind, checked against the checkpoints it resumes or tests."""
    from neuralkg_distil.checkpoint.files import check_fits

    system = settings.kind.build_system(settings, data)
    if settings.resume_checkpoint is not None:
        check_fits(system.lit, settings.resume_checkpoint, settings.resume_from, "checkpoint to resume", training=True)
    if settings.test_checkpoint is not None:
        check_fits(system.lit, settings.test_checkpoint, settings.args.checkpoint_dir, "--checkpoint_dir checkpoint",
                   prefixes=_prefixes(system))
    return system


def _prefixes(system: System) -> tuple:
    return tuple(f"{role}." for role in system.specs)


@dataclass
class Callbacks:
    """The trainer's callbacks, with the two the run reads afterwards."""

    all: List[Any]
    checkpoint: Any
    early_stop: Any


def build_callbacks(settings: RunSettings, data: RunData, system: System, show_bar: bool) -> Callbacks:
    """Checkpoints, early stopping, guards, resume state, progress, and the kind's own callbacks."""
    import pytorch_lightning as pl

    from neuralkg_distil.callbacks.early_stopping import DecayAwareEarlyStopping
    from neuralkg_distil.callbacks.guards import NonFiniteGuard
    from neuralkg_distil.callbacks.progress import QuietProgressBar, ValidationReport
    from neuralkg_distil.checkpoint.lightning_io import RunCheckpoint
    from neuralkg_distil.checkpoint.resume import ResumeStateCallback

    args = settings.args
    # Saved at the end of each validated epoch, after its validation: a checkpoint written from
    # inside the validation loop (Lightning 1.9's choice when --check_per_epoch > 1) makes a
    # resumed run redo that epoch's end and step the learning-rate schedule twice.
    checkpoint = RunCheckpoint(
        dirpath=str(settings.stage_dir), filename="best", monitor="Eval|mrr", mode="max", save_top_k=1, save_last=True,
        save_weights_only=False, save_on_train_epoch_end=True, every_n_epochs=args.check_per_epoch,
    )
    early_stop = DecayAwareEarlyStopping(monitor="Eval|mrr", mode="max", patience=args.early_stop_patience,
                                         check_on_train_epoch_end=False,
                                         after_decay=bool(getattr(args, "early_stop_after_decay", False)))
    flags = {k: v for k, v in vars(args).items() if isinstance(v, (bool, int, float, str)) or v is None}
    callbacks: List[Any] = [
        checkpoint, early_stop, NonFiniteGuard(),
        pl.callbacks.LearningRateMonitor(logging_interval="epoch"),  # the plateau decay, visible in metrics.csv
        ResumeStateCallback(data.sampler, lr=args.lr, flags=flags),
    ]
    callbacks += settings.kind.callbacks(settings, data, system, checkpoint, early_stop)
    callbacks.append(ValidationReport(run_label(settings, system), print_lines=not show_bar, lr=args.lr))
    if show_bar:
        callbacks.append(QuietProgressBar())
    return Callbacks(callbacks, checkpoint, early_stop)


def build_loggers(settings: RunSettings) -> List[Any]:
    """metrics.csv always; with --use_wandb a WandbLogger first."""
    import pytorch_lightning as pl

    args = settings.args
    version = log_version(settings.run_dir, settings.stage_dir.name, settings.resume_from is not None)
    loggers: List[Any] = [pl.loggers.CSVLogger(save_dir=str(settings.run_dir), name="logs", version=version)]
    if args.use_wandb:
        name = "_".join(str(x) for x in (args.model_name, Path(args.data_path).name, args.emb_dim, settings.stage_dir.name))
        # log_model=True: Lightning logs the kept checkpoints (best.ckpt, last.ckpt) as a "model"
        # artifact when training ends (--wandb_log_model)
        wandb_logger = pl.loggers.WandbLogger(name=name, project=os.environ.get("WANDB_PROJECT", "neuralkg-distil"),
                                              save_dir=str(settings.run_dir),
                                              log_model=bool(getattr(args, "wandb_log_model", False)))
        wandb_logger.log_hyperparams({k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))})
        loggers.insert(0, wandb_logger)
    return loggers


def build_trainer(settings: RunSettings, callbacks: Callbacks, loggers: List[Any], show_bar: bool) -> Any:
    """``Trainer.from_argparse_args`` with Lightning's objections to its flags as one-line errors."""
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    from neuralkg_distil.checkpoint.lightning_io import SafeCheckpointIO

    args = settings.args
    preloaded = {str(settings.resume_from): settings.resume_checkpoint} if settings.resume_checkpoint else None
    try:
        return pl.Trainer.from_argparse_args(
            args, callbacks=callbacks.all, logger=loggers, default_root_dir=str(settings.run_dir),
            accelerator=args.accelerator or "auto", devices=args.devices or 1, check_val_every_n_epoch=args.check_per_epoch,
            enable_progress_bar=show_bar, plugins=[SafeCheckpointIO(preloaded=preloaded)],
        )
    except (MisconfigurationException, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Lightning refuses the trainer flags: {first}") from None


def fit(settings: RunSettings, trainer: Any, system: System, data: RunData, callbacks: Callbacks) -> Optional[str]:
    """Train (unless --test_only), then load the best checkpoint's weights; returns its path."""
    from neuralkg_distil.checkpoint.files import check_fits, read_checkpoint

    if settings.test_only:
        best, checkpoint = settings.args.checkpoint_dir, settings.test_checkpoint
    else:
        resume = str(settings.resume_from) if settings.resume_from else None
        trainer.fit(system.lit, datamodule=data.datamodule, ckpt_path=resume)
        if trainer.interrupted:  # Lightning swallows Ctrl-C: the run is unfinished, so write no results
            raise KeyboardInterrupt
        best = callbacks.checkpoint.best_model_path or callbacks.checkpoint.last_model_path
        checkpoint = read_checkpoint(best, "checkpoint") if best else None
    if best:
        check_fits(system.lit, checkpoint, best, "checkpoint", prefixes=_prefixes(system))
        system.lit.load_state_dict(checkpoint["state_dict"], strict=False)
    return best or None


def test(settings: RunSettings, trainer: Any, system: System, data: RunData) -> Dict[str, Dict[str, Any]]:
    """Every role's filtered metrics on valid and test, through Lightning's test loop; by role."""
    from neuralkg_distil.evaluation.test_system import LinkPredictionTest, triple_loader
    from neuralkg_distil.kge.spec import parameter_count

    evaluator = data.evaluator(settings.args)
    models = {role: getattr(system.lit, role) for role in system.specs}  # trained, then reloaded from the best checkpoint
    evaluation = LinkPredictionTest(models, evaluator, settings.args.calc_hits)
    loaders = [triple_loader(data.sampler.valid_triples, evaluator.batch_size),
               triple_loader(data.sampler.test_triples, evaluator.batch_size)]
    trainer.test(evaluation, dataloaders=loaders, verbose=False)
    return {role: {**spec.to_dict(), "params": parameter_count(models[role]), **evaluation.results[role]}
            for role, spec in system.specs.items()}


def run_label(settings: RunSettings, system: System) -> str:
    """``pretrain ComplEx 64``, ``stage 1: ComplEx 8 from teacher ComplEx 64`` or, with several teachers (MulDE),
    ``... from teachers TransE 64, RotH 64`` (or the given label)."""
    if settings.label:
        return settings.label
    model = system.specs["model"]
    if settings.stage is None:
        return f"pretrain {model.model_name} {model.emb_dim}"
    teachers = [f"{spec.model_name} {spec.emb_dim}" for role, spec in system.specs.items() if role != "model"]
    source = f"teacher {teachers[0]}" if len(teachers) == 1 else f"teachers {', '.join(teachers)}"
    return f"stage {settings.stage}: {model.model_name} {model.emb_dim} from {source}"


def write_results(settings: RunSettings, trainer: Any, system: System, callbacks: Callbacks, best: Optional[str],
                  models: Dict[str, Dict[str, Any]], started: float) -> Dict[str, Any]:
    """``results.json`` of the stage (atomically), and the run's summary on stdout."""
    from neuralkg_distil.checkpoint.files import atomic_write_json
    from neuralkg_distil.run.results import format_results

    results: Dict[str, Any] = {
        "kind": settings.kind.name, "stage": settings.stage, "dataset": str(settings.args.data_path),
        "run_dir": str(settings.run_dir), "checkpoint": str(best) if best else None, "epochs": trainer.current_epoch,
        # The protocol's convergence flag: stopped by early stopping (valid MRR), not by the epoch cap.
        "max_epochs": trainer.max_epochs,
        "stopped_early": None if settings.test_only else bool(getattr(callbacks.early_stop, "stopped_epoch", 0)),
        "seed": settings.args.seed, "models": models, "wall_time_s": round(time.time() - started, 2),
    }
    if trainer.is_global_zero:  # under DDP every process has the same results; one writes them
        atomic_write_json(results, settings.stage_dir / RESULTS_FILE)
        print(format_results(results, title=run_label(settings, system)))
        print(f"results written to {settings.stage_dir / RESULTS_FILE}")
    return results


def train(args: argparse.Namespace, label: Optional[str] = None) -> Dict[str, Any]:
    """Run one pretraining or distillation stage end to end; returns the results dict it saves.

    ``label`` names the run in its printed lines (default: phase, model and dimension).
    """
    from neuralkg_distil.cli.output import progress_bar, quiet_lightning

    quiet_lightning()  # Lightning's import set its loggers to INFO
    started = time.time()
    settings = RunSettings.from_args(args, label)
    data = build_data(settings)
    system = build_system(settings, data)
    show_bar = progress_bar(args, settings.explicit)
    callbacks = build_callbacks(settings, data, system, show_bar)
    loggers = build_loggers(settings)
    trainer = build_trainer(settings, callbacks, loggers, show_bar)
    _prepare_folder(settings)
    best = fit(settings, trainer, system, data, callbacks)
    results = write_results(settings, trainer, system, callbacks, best, test(settings, trainer, system, data), started)
    if args.use_wandb:
        from neuralkg_distil.run.results import log_to_wandb

        log_to_wandb(loggers[0], results)
        loggers[0].experiment.finish()  # the run is complete (a sweep agent's next run starts fresh)
    return results


def _prepare_folder(settings: RunSettings) -> None:
    """Every input is checked by now: only from here on may the run's folder change."""
    from neuralkg_distil.run.runtime import is_rank_zero

    if not is_rank_zero():  # a DDP worker: the launching process (rank 0) owns the folder
        settings.stage_dir.mkdir(parents=True, exist_ok=True)
        return
    prepare_stage_dir(settings.stage_dir, settings.args.overwrite, keep_checkpoints=settings.test_only)
    if settings.resume_from is not None:
        print(f"resuming from {settings.resume_from}")
    if settings.args.save_config:
        from neuralkg_distil.cli.parser import save_config_file

        saved = save_config_file(settings.args, settings.stage_dir / "config.yaml")
        print(f"flags saved to {saved} (run them again with --load_config --config_path {saved})")
