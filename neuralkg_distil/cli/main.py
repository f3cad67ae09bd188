"""Command line: NeuralKG's flags plus the distillation group; pretraining and distillation runs.

``neuralkg-distil [FLAGS]`` (and ``python main.py [FLAGS]``) trains: with NeuralKG's
``KGELitModel`` it pretrains a model (a teacher, or a directly trained student); with
``KGDistillLitModel`` it runs distillation stage 1 or 2. Sub-commands: ``demo`` (the whole
pipeline on a generated graph), ``experiment`` (a grid of runs from a YAML file),
``iterate`` (IterDE's chain of students), ``fetch-data`` and ``generate-graph``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from neuralkg_distil.errors import ConfigError, DistilError, warn
from neuralkg_distil.cli.flag_checks import check_flags, resolve
from neuralkg_distil.run.folder import RESULTS_FILE, log_version, plan_stage_dir, prepare_stage_dir

log = logging.getLogger("neuralkg_distil")

def add_distillation_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags neuralkg-distil adds to NeuralKG's parser."""
    group = parser.add_argument_group("Distillation Args")
    # NeuralKG's -adv can only switch self-adversarial sampling off; a recipe may switch it off too,
    # so the command line needs a way back on (same dest and default as NeuralKG's flag).
    group.add_argument("--self_adversarial", dest="negative_adversarial_sampling", default=True,
                       action=argparse.BooleanOptionalAction, help="Self-adversarial weighting of the negatives on (--self_adversarial) or off (--no-self_adversarial, the same as NeuralKG's -adv).")
    group.add_argument("--preset", default=None, type=str, help="Training recipe from neuralkg_distil/presets/recipes.yaml: auto (from --data_path's folder and --model_name), <dataset>/<model>[/<variant>], or none; flags given on the command line win.")
    group.add_argument("--teacher_ckpt", default=None, type=str, help="Pretrained teacher checkpoint (NeuralKG or ours).")
    group.add_argument("--teacher_dim", default=None, type=int, help="Teacher dimension; inferred from the checkpoint, checked if given.")
    group.add_argument("--teacher_model", default=None, type=str, help="Teacher model class; default: --model_name.")
    group.add_argument("--stage", default=1, type=int, choices=(1, 2), help="Distillation stage: 1 (teacher frozen) or 2 (teacher unfrozen).")
    group.add_argument("--stage2", default=False, action="store_true", help="Same as --stage 2 (the reference code's flag).")
    group.add_argument("--student_ckpt", default=None, type=str, help="Stage 2's start; default: <run_dir>/stage1/best.ckpt.")
    group.add_argument("--student_init", default="stage1", choices=("stage1", "random"), help="Stage 2's student: from the stage-1 checkpoint, or new (the -S1 ablation; the teacher then comes from --teacher_ckpt).")
    group.add_argument("--alpha", default=0.5, type=float, help="Student's soft-label weight in [0, 1] (fixed weighting).")
    group.add_argument("--beta", default=0.5, type=float, help="Teacher's soft-label weight in [0, 1] in stage 2 (fixed weighting).")
    group.add_argument("--soft_weighting", default=None, choices=("fixed", "adaptive", "calibrated"), help="fixed alpha/beta; adaptive: DualDE's learnable per-triple gates as published (trained on the loss they weigh, they can switch distillation off); calibrated: the same gates fitted to the true labels (default for DualDE_Loss; DistilE_Loss defaults to fixed).")
    group.add_argument("--gate_lr", default=0.01, type=float, help="Learning rate of the calibrated soft-label gates (their own optimizer group); the published adaptive gates use --lr.")
    group.add_argument("--soft_distance", default="smoothl1", choices=("smoothl1", "bce"), help="DualDE_Loss's soft distance: SmoothL1 between sigmoids (the paper's) or BCE against the label model's sigmoid (same minimum, stronger gradient).")
    group.add_argument("--structure_weight", default=0.0, type=float, help="Weight of DualDE's structure soft label (angle and length ratio); 0 disables it.")
    group.add_argument("--distil_family", default="auto", choices=("auto", "margin", "ce"), help="DistilE's loss family (margin or ce); auto picks it from the model. (Not --loss_family: NeuralKG scripts abbreviate --loss_name as --loss.)")
    group.add_argument("--distil_adversarial", default=False, action=argparse.BooleanOptionalAction, help="DistilE_Loss, cross-entropy family: weigh the negatives' terms by the self-adversarial softmax (the hard term of NeuralKG's Adv_Loss) instead of uniformly.")
    group.add_argument("--teacher_topk", default=0, type=int, help="Soft labels on the teacher's top K entities of each training query (found once per stage), matched over [positive, negatives, those K]; 0: off.")
    group.add_argument("--kd_weight", default=1.0, type=float, help="Weight of the --teacher_topk term.")
    group.add_argument("--kd_loss", default="kl", choices=("kl", "bce"), help="--teacher_topk's term: kl (listwise softmax) or bce (pointwise sigma(f_T)).")
    group.add_argument("--kd_queries", default="train", choices=("train", "all"), help="--teacher_topk's table: training queries, or every (entity, relation) pair.")
    group.add_argument("--kd_transfer_queries", default=0, type=int, help="Random table queries per step given the --teacher_topk term (0: off).")
    group.add_argument("--kd_transfer_weight", default=1.0, type=float, help="Weight of the --kd_transfer_queries term.")
    group.add_argument("--kd_temperature", default=1.0, type=float, help="Temperature T of the KL term (scaled by T^2).")
    group.add_argument("--soft_weight_schedule", default="constant", choices=("constant", "linear", "power", "step"), help="How every soft weight grows from 0 over --soft_weight_warmup epochs (IterDE).")
    group.add_argument("--soft_weight_warmup", default=0, type=int, help="Epochs of the --soft_weight_schedule ramp.")
    group.add_argument("--soft_weight_power", default=2.0, type=float, help="p of the power schedule: (epoch / warmup) ** p.")
    group.add_argument("--rank_margin", default=1.0, type=float, help="gamma of the margin ranking loss (margin family).")
    group.add_argument("--lr_ref_dim", default=0, type=int, help="Scale each model's learning rate by (D / its dim) ** --lr_dim_power, so --lr is the rate of a D-dim model (NeuralKG's init range shrinks as 1 / dim); 0 = one rate for all.")
    group.add_argument("--lr_dim_power", default=1.0, type=float, help="Power of the --lr_ref_dim rule: 1 for distance models (TransE, TransH, RotatE), 0.5 for bilinear ones (ComplEx, DistMult).")
    group.add_argument("--lr_decay", default="halfway", choices=("halfway", "plateau", "none"), help="halfway: NeuralKG's lr / 10 at max_epochs / 2; plateau: x --lr_decay_factor after --lr_decay_patience validations without a better MRR; none.")
    group.add_argument("--lr_decay_factor", default=0.96, type=float, help="Factor of --lr_decay plateau (the DistilE paper: 0.96).")
    group.add_argument("--lr_decay_patience", default=5, type=int, help="Validations without a better MRR before --lr_decay plateau lowers the rate.")
    group.add_argument("--neg_chunk_size", default=0, type=int, help="TorchUniSampler: chunks of N triples share their negatives (0: per-triple negatives).")
    group.add_argument("--filter_shared_negatives", default="auto", choices=("auto", "on", "off"), help="With --neg_chunk_size: mask shared negatives that form a known training triple with their row (weight 0 in every loss); auto: on when --filter_flag is (NeuralKG's default).")
    group.add_argument("--teacher_bf16", default=False, action="store_true", help="Stage 1: run the frozen teacher under bfloat16 autocast (for GPUs).")
    group.add_argument("--run_dir", default=None, type=str, help="Run folder; default: <output_dir>/<dataset>/<model>_<dim>[_distil].")
    group.add_argument("--output_dir", default="output", type=str, help="Parent of the default run folders.")
    group.add_argument("--overwrite", default=False, action="store_true", help="Replace an earlier run's results in the same folder.")
    group.add_argument("--init_ckpt", default=None, type=str, help="Pretraining: start from this checkpoint's model weights (a fresh optimizer and schedule), e.g. to fine-tune a no-DS student at a lower rate.")
    group.add_argument("--resume", default=False, action="store_true", help="Continue an interrupted run from its last.ckpt (same flags, same folder).")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """NeuralKG 1.0.21's ``setup_parser()`` (same flags, same defaults) plus our group."""
    from neuralkg.utils import setup_parser

    parser = setup_parser()
    parser.prog = "neuralkg-distil"
    parser.description = "Distil a large knowledge-graph embedding into a small one (NeuralKG plugin)."
    parser.epilog = "Sub-commands: demo, experiment, iterate, fetch-data, generate-graph, export, predict, evaluate (each with --help)."
    from neuralkg_distil.cli.output import add_output_args
    from neuralkg_distil.cli.flag_help import improve_parser

    # Defaults in --help, NeuralKG's wrong help strings replaced, one-line errors with suggestions.
    return improve_parser(add_output_args(add_distillation_args(parser)))


def phase_of(args: argparse.Namespace) -> str:
    """pretrain, stage1 or stage2: what a run of these flags trains (before a preset is applied).

    Stage 2 from a random student (the -S1 ablation) is a whole training, so it takes stage 1's
    recipe, not stage 2's short fine-tuning one (as the experiment runner does).
    """
    if getattr(args, "stage2", False) or getattr(args, "stage", 1) == 2:
        return "stage1" if getattr(args, "student_init", "stage1") == "random" else "stage2"
    if getattr(args, "teacher_ckpt", None) or args.litmodel_name in ("KGDistillLitModel", "distil_KGELitModel"):
        return "stage1"
    return "pretrain"


def preset_defaults(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Dict[str, Any]:
    """The values of ``--preset`` for this run's phase, checked against the parser's flags."""
    from neuralkg_distil.presets import known_dataset, known_model, preset_values, resolve_name

    dataset, model, variant = resolve_name(args.preset, args.data_path, args.model_name)
    if not known_model(model):
        warn(f"--preset {args.preset}: no recipe for model {model!r}; only the common values apply")
    if not known_dataset(dataset):
        where = " (the folder of --data_path)" if args.preset == "auto" else ""
        warn(f"--preset {args.preset}: no recipe for dataset {dataset!r}{where}; using {model}'s values")
    values = {"model_name": model, **preset_values(dataset, model, phase_of(args), variant)}
    dests = {action.dest for action in parser._actions}  # noqa: SLF001 (argparse has no public index)
    unknown = sorted(set(values) - dests)
    if unknown:
        raise ConfigError(f"preset {args.preset}: unknown flag(s) {', '.join(unknown)} in neuralkg_distil/presets/recipes.yaml")
    return values


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the flags; with ``--preset`` the recipe's values become the defaults (explicit flags win).

    Precedence: NeuralKG's defaults < ``--preset`` < ``--load_config --config_path FILE`` < the
    command line. ``--dataset_name X`` without ``--data_path`` reads ``dataset/X``. Model and loss
    names are matched case-insensitively and stored in NeuralKG's spelling. ``args._explicit``
    holds the flags given on the command line or in the config file.
    """
    from neuralkg_distil.cli.flag_checks import canonicalize_names
    from neuralkg_distil.cli.flag_help import explicit_dests, load_config_file

    argv = list(argv) if argv is not None else sys.argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    given = explicit_dests(parser, argv)
    overrides: Dict[str, Any] = {}
    if args.load_config:
        overrides.update(load_config_file(args.config_path, {a.dest for a in parser._actions}))  # noqa: SLF001
        given |= set(overrides)
        parser.set_defaults(**overrides)
        args = parser.parse_args(argv)
    if "dataset_name" in given and "data_path" not in given:
        overrides["data_path"] = str(Path("dataset") / args.dataset_name)
        parser.set_defaults(**overrides)
    args = canonicalize_names(parser.parse_args(argv))
    if args.preset not in (None, "", "none"):
        values = preset_defaults(parser, args)
        parser.set_defaults(**values)
        parser.set_defaults(**overrides)
        args = canonicalize_names(parser.parse_args(argv))
        if args.model_name != values["model_name"]:
            raise ConfigError(f"--preset {args.preset} is a {values['model_name']} recipe, but --model_name is {args.model_name}")
    args._explicit = frozenset(given)
    return args


def preset_note(args: argparse.Namespace) -> Optional[str]:
    """One line saying which recipe a run uses (None without --preset)."""
    if getattr(args, "preset", None) in (None, "", "none"):
        return None
    scaling = f" x ({args.lr_ref_dim}/dim)^{args.lr_dim_power}" if args.lr_ref_dim else ""
    return (f"preset {args.preset} ({phase_of(args)}): lr {args.lr}{scaling}, loss {args.loss_name}, "
            f"{args.num_neg} negatives, batch {args.train_bs}, up to {args.max_epochs} epochs; "
            "flags on the command line win")


def _build_trainer(args: argparse.Namespace, **kwargs: Any) -> Any:
    """``Trainer.from_argparse_args`` with Lightning's objections to its flags as one-line errors."""
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    try:
        return pl.Trainer.from_argparse_args(args, **kwargs)
    except (MisconfigurationException, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Lightning refuses the trainer flags: {first}") from None


def _start_from(lit: Any, path: str, distil: bool) -> None:
    """Pretraining from another run's weights (``--init_ckpt``), e.g. a low-rate fine-tuning phase."""
    from neuralkg_distil.checkpoint.files import check_fits, read_checkpoint

    if distil:
        raise ConfigError("--init_ckpt starts a pretraining from saved weights; distillation takes --student_ckpt")
    start = read_checkpoint(path, "--init_ckpt checkpoint")
    check_fits(lit, start, path, "--init_ckpt checkpoint", prefixes=("model.",))
    lit.load_state_dict({k: v for k, v in start["state_dict"].items() if k.startswith("model.")}, strict=False)


def _teacher_candidates(args: argparse.Namespace, teacher: Any, train_triples: Sequence[Any]) -> Any:
    """The teacher's top-k table for the listwise term (``--teacher_topk``), or None when off."""
    k = int(getattr(args, "teacher_topk", 0) or 0)
    if k <= 0:
        return None
    from neuralkg_distil.methods.candidates import CandidateTable

    queries = getattr(args, "kd_queries", "train") or "train"
    cache, signature = None, None
    if getattr(args, "teacher_ckpt", None):  # a frozen teacher's table is the same for every student: keep it
        source = Path(args.teacher_ckpt)
        stat = source.stat()
        cache = source.with_name(f"{source.name}.top{k}-{queries}.candidates")
        signature = f"{stat.st_size}-{stat.st_mtime_ns}-{k}-{queries}-{teacher.args.num_ent}-{teacher.args.num_rel}"
        table = CandidateTable.load(cache, signature)
        if table is not None:
            print(f"teacher candidates: top {k} read from {cache}")
            return table
    table = CandidateTable.from_model(teacher, train_triples, k, queries=queries, progress=print)
    if cache is not None:
        try:
            table.save(cache, signature)
        except OSError as exc:  # a read-only teacher folder: the table is only rebuilt next time
            warn(f"could not cache the teacher candidates at {cache}: {exc}")
    return table


def train(args: argparse.Namespace, label: Optional[str] = None) -> Dict[str, Any]:
    """Run one pretraining or distillation stage end to end; returns the results dict it saves.

    ``label`` names the run in its printed lines (default: phase, model and dimension).
    """
    import copy

    import pytorch_lightning as pl
    import torch

    from neuralkg_distil.cli.output import progress_bar, quiet_lightning

    quiet_lightning()  # Lightning's import set its loggers to INFO

    from neuralkg_distil.callbacks.stage_start import RunConfigCallback
    from neuralkg_distil.checkpoint.lightning_io import RunCheckpoint, SafeCheckpointIO
    from neuralkg_distil.checkpoint.files import atomic_write_json, check_fits, dictionary_checksum, read_checkpoint
    from neuralkg_distil.data.validate import validate_dataset
    from neuralkg_distil.callbacks.guards import NonFiniteGuard
    from neuralkg_distil.checkpoint.resume import ResumeStateCallback
    from neuralkg_distil.evaluation.ranking import RankingEvaluator
    from neuralkg_distil.training.distill_system import KGDistillLitModel
    from neuralkg_distil.training.pretrain_system import PretrainLitModel
    from neuralkg_distil.kge.spec import ModelSpec, build_model, model_args, model_class, parameter_count
    from neuralkg_distil.run.results import format_results
    from neuralkg_distil.methods.roles import build_stage_models, default_run_dir, stage_of

    started = time.time()
    check_flags(args)
    note = preset_note(args)
    if note:
        print(note)
    for note in validate_dataset(args.data_path).notes():
        warn(note)
    litmodel_class = resolve("lit_model", args.litmodel_name, "--litmodel_name")
    distil = issubclass(litmodel_class, KGDistillLitModel)
    model_class(args.model_name)
    if distil and getattr(args, "teacher_model", None):
        model_class(args.teacher_model)
    if not distil:
        from neuralkg_distil.methods.losses import DistillationLoss

        loss_class = resolve("loss", args.loss_name, "--loss_name")
        if isinstance(loss_class, type) and issubclass(loss_class, DistillationLoss):
            raise ConfigError(f"--loss_name {args.loss_name} is a distillation loss; a pretraining ({args.litmodel_name}) "
                              "needs a NeuralKG loss such as Adv_Loss (or pass --teacher_ckpt to distil)")
    explicit = getattr(args, "_explicit", frozenset())
    from neuralkg_distil.cli.flag_checks import flag_warnings

    for line in flag_warnings(args, explicit, distil):
        warn(line)
    if args.neg_chunk_size and not (distil or issubclass(litmodel_class, PretrainLitModel)):
        raise ConfigError(f"--neg_chunk_size needs --litmodel_name PretrainLitModel or KGDistillLitModel, not {args.litmodel_name}")
    stage = stage_of(args) if distil else None
    run_dir = default_run_dir(args, distil)
    stage_dir = run_dir / (f"stage{stage}" if distil else "pretrain")
    resume = bool(getattr(args, "resume", False))
    if resume and args.test_only:
        raise ConfigError("--resume continues training; --test_only does not train: pick one")
    resume_from = plan_stage_dir(stage_dir, args.overwrite, resume, args.test_only)
    # Read (safely) now: a checkpoint that cannot be used must stop the run before the folder changes.
    resume_checkpoint = read_checkpoint(resume_from, "checkpoint to resume") if resume_from is not None else None
    test_checkpoint = None
    if args.test_only:
        if not args.checkpoint_dir:
            raise ConfigError("--test_only needs --checkpoint_dir PATH (the checkpoint to test)")
        test_checkpoint = read_checkpoint(args.checkpoint_dir, "--checkpoint_dir checkpoint")

    pl.seed_everything(args.seed, workers=True)
    # NeuralKG's samplers write num_ent/num_rel into the args they get: give them a copy.
    data_args = copy.copy(args)
    sampler = resolve("data", args.train_sampler_class, "--train_sampler_class")(data_args)
    test_sampler = resolve("data", args.test_sampler_class, "--test_sampler_class")(sampler)
    datamodule = resolve("data", args.data_class, "--data_class")(data_args, sampler, test_sampler)
    num_ent, num_rel = len(sampler.ent2id), len(sampler.rel2id)
    if args.train_bs == 0 and args.num_batches > len(sampler.train_triples):
        raise ConfigError(
            f"--num_batches {args.num_batches} is more than the {len(sampler.train_triples)} training triples; "
            "pass a smaller --num_batches or --train_bs N"
        )
    checksum = dictionary_checksum(args.data_path)
    margs = argparse.Namespace(**{**vars(args), "num_ent": num_ent, "num_rel": num_rel})

    if distil:
        stage_models = build_stage_models(margs, num_ent, num_rel, checksum)
        candidates = _teacher_candidates(args, stage_models.teacher, sampler.train_triples)
        lit = litmodel_class(stage_models.student, margs, stage_models, dataset_checksum=checksum, candidates=candidates)
        specs = {"model": stage_models.student_spec, "teacher": stage_models.teacher_spec}
        config = None
        if stage_models.student_spec.emb_dim >= stage_models.teacher_spec.emb_dim:
            warn(
                f"student dimension {stage_models.student_spec.emb_dim} (--emb_dim) is not smaller than the "
                f"teacher's {stage_models.teacher_spec.emb_dim}: nothing is compressed"
            )
    else:
        spec = ModelSpec.from_args(args, num_ent, num_rel)
        model = build_model(spec, margs)
        lit = litmodel_class(model, model_args(spec, margs))
        specs = {"model": spec}
        config = {"kind": "pretrain", "models": {"model": spec.to_dict()}, "dataset_checksum": checksum,
                  "data_path": os.path.abspath(args.data_path)}

    roles = tuple(f"{role}." for role in specs)
    if resume_checkpoint is not None:
        check_fits(lit, resume_checkpoint, resume_from, "checkpoint to resume", training=True)
    if test_checkpoint is not None:
        check_fits(lit, test_checkpoint, args.checkpoint_dir, "--checkpoint_dir checkpoint", prefixes=roles)
    if getattr(args, "init_ckpt", None) and resume_checkpoint is None:
        _start_from(lit, args.init_ckpt, distil)

    # Saved at the end of each validated epoch, after its validation: a checkpoint written from
    # inside the validation loop (Lightning 1.9's choice when --check_per_epoch > 1) makes a
    # resumed run redo that epoch's end and step the learning-rate schedule twice.
    checkpoint_cb = RunCheckpoint(
        dirpath=str(stage_dir), filename="best", monitor="Eval|mrr", mode="max", save_top_k=1, save_last=True,
        save_weights_only=False, save_on_train_epoch_end=True, every_n_epochs=args.check_per_epoch,
    )
    early_stop = pl.callbacks.EarlyStopping(
        monitor="Eval|mrr", mode="max", patience=args.early_stop_patience, check_on_train_epoch_end=False
    )
    callbacks: List[pl.Callback] = [
        checkpoint_cb,
        early_stop,
        NonFiniteGuard(),
        pl.callbacks.LearningRateMonitor(logging_interval="epoch"),  # the plateau decay, visible in metrics.csv
        ResumeStateCallback(sampler, lr=args.lr, flags={
            k: v for k, v in vars(args).items() if isinstance(v, (bool, int, float, str)) or v is None
        }),
    ]
    if config is not None:
        callbacks.append(RunConfigCallback(config))
    if stage == 2 and not args.test_only:
        from neuralkg_distil.callbacks.stage_start import KeepStartingPoint

        callbacks.append(KeepStartingPoint(RankingEvaluator.for_sampler(sampler, hits=tuple(args.calc_hits)),
                                           torch.tensor(sampler.valid_triples, dtype=torch.long), checkpoint_cb, early_stop))
    from neuralkg_distil.callbacks.progress import QuietProgressBar, ValidationReport

    show_bar = progress_bar(args, explicit)
    label = label or run_label(specs, stage)
    callbacks.append(ValidationReport(label, print_lines=not show_bar, lr=args.lr))
    if show_bar:
        callbacks.append(QuietProgressBar())
    # metrics.csv always; with --use_wandb a WandbLogger beside it.
    version = log_version(run_dir, stage_dir.name, resume_from is not None)
    logger: Any = [pl.loggers.CSVLogger(save_dir=str(run_dir), name="logs", version=version)]
    if args.use_wandb:
        name = "_".join(str(x) for x in (args.model_name, Path(args.data_path).name, args.emb_dim, stage_dir.name))
        wandb_logger = pl.loggers.WandbLogger(name=name, project=os.environ.get("WANDB_PROJECT", "neuralkg-distil"), save_dir=str(run_dir))
        wandb_logger.log_hyperparams({k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))})
        logger.insert(0, wandb_logger)
    trainer = _build_trainer(
        args,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(run_dir),
        accelerator=args.accelerator or "auto",
        devices=args.devices or 1,
        check_val_every_n_epoch=args.check_per_epoch,
        enable_progress_bar=show_bar,
        plugins=[SafeCheckpointIO(preloaded={str(resume_from): resume_checkpoint} if resume_checkpoint else None)],
    )

    # Every input is checked by now: only from here on may the run's folder change.
    prepare_stage_dir(stage_dir, args.overwrite, keep_checkpoints=args.test_only)
    if resume_from is not None:
        print(f"resuming from {resume_from}")
    if args.save_config:
        from neuralkg_distil.cli.flag_help import save_config_file

        saved = save_config_file(args, stage_dir / "config.yaml")
        print(f"flags saved to {saved} (run them again with --load_config --config_path {saved})")
    if not args.test_only:
        trainer.fit(lit, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
        if trainer.interrupted:  # Lightning swallows Ctrl-C: the run is unfinished, so write no results
            raise KeyboardInterrupt
        best = checkpoint_cb.best_model_path or checkpoint_cb.last_model_path
    else:
        best = args.checkpoint_dir
    if best:
        checkpoint = test_checkpoint if args.test_only else read_checkpoint(best, "checkpoint")
        check_fits(lit, checkpoint, best, "checkpoint", prefixes=roles)
        lit.load_state_dict(checkpoint["state_dict"], strict=False)

    # Final numbers come from our evaluator for every model, so teacher and student compare fairly.
    evaluator = RankingEvaluator.for_sampler(sampler, hits=tuple(args.calc_hits))
    # Lightning hands the module back on the CPU after fit: rank on the device it trained on.
    device = trainer.strategy.root_device
    lit.to(device)
    test = torch.tensor(sampler.test_triples, dtype=torch.long, device=device)
    valid = torch.tensor(sampler.valid_triples, dtype=torch.long, device=device)
    results: Dict[str, Any] = {
        "kind": "distil" if distil else "pretrain",
        "stage": stage,
        "dataset": str(args.data_path),
        "run_dir": str(run_dir),
        "checkpoint": str(best) if best else None,
        "epochs": trainer.current_epoch,
        # The protocol's convergence flag: stopped by early stopping (valid MRR), not by the epoch cap.
        "max_epochs": trainer.max_epochs,
        "stopped_early": None if args.test_only else bool(getattr(early_stop, "stopped_epoch", 0)),
        "seed": args.seed,
        "models": {},
    }
    for role, spec in specs.items():
        model = getattr(lit, role).eval()  # the lit model's instance: trained, then reloaded from the best checkpoint
        results["models"][role] = {
            **spec.to_dict(),
            "params": parameter_count(model),
            "valid": evaluator.evaluate(model, valid),
            "test": evaluator.evaluate(model, test, progress=show_bar),
        }
    results["wall_time_s"] = round(time.time() - started, 2)
    atomic_write_json(results, stage_dir / RESULTS_FILE)
    if args.use_wandb:
        from neuralkg_distil.run.results import log_to_wandb

        log_to_wandb(logger[0], results)
        logger[0].experiment.finish()  # the run is complete (a sweep agent's next run starts fresh)
    print(format_results(results, title=label))
    print(f"results written to {stage_dir / RESULTS_FILE}")
    return results


def run_label(specs: Dict[str, Any], stage: Optional[int]) -> str:
    """``pretrain ComplEx 64`` or ``stage 1: ComplEx 8 from teacher ComplEx 64``."""
    model = specs["model"]
    if stage is None:
        return f"pretrain {model.model_name} {model.emb_dim}"
    teacher = specs["teacher"]
    return f"stage {stage}: {model.model_name} {model.emb_dim} from teacher {teacher.model_name} {teacher.emb_dim}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``neuralkg-distil`` and ``main.py``; exit code 2 with one line on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from neuralkg_distil.cli.output import configure_output

    configure_output(argv)  # before torch / Lightning are imported: their import-time warnings too
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv in (["-h"], ["--help"]):
        from neuralkg_distil.cli.flag_help import cached_help

        text = cached_help()  # the same text without importing torch, Lightning and NeuralKG
        if text is not None:
            sys.stdout.write(text)
            return 0
    try:
        if argv and argv[0] == "demo":
            from neuralkg_distil.run.demo import main as demo_main

            return demo_main(argv[1:])
        if argv and argv[0] == "experiment":
            from neuralkg_distil.experiment.runner import main as experiment_main

            return experiment_main(argv[1:])
        if argv and argv[0] == "iterate":
            from neuralkg_distil.run.chain import main as chain_main

            return chain_main(argv[1:])
        if argv and argv[0] == "fetch-data":
            from neuralkg_distil.data.fetch import main as fetch_main

            return fetch_main(argv[1:])
        if argv and argv[0] in ("export", "predict", "evaluate"):
            from neuralkg_distil.serving.predictor import main as serving_main

            return serving_main(argv)
        if argv and argv[0] == "generate-graph":
            from neuralkg_distil.data.synthetic import main as synth_main

            return synth_main(argv[1:])
        import neuralkg_distil  # noqa: F401
        from neuralkg_distil.run.runtime import keep_freed_memory

        neuralkg_distil.register()  # our classes in NeuralKG's name spaces before the flags are resolved

        keep_freed_memory()
        train(parse_args(argv))
        return 0
    except DistilError as exc:
        print(f"neuralkg-distil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuralkg-distil: interrupted; checkpoints written so far are kept (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
