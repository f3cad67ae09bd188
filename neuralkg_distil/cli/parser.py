"""The training flags: NeuralKG 1.0.21's parser plus the distillation group, recipes as defaults.

``parse_args`` turns a command line into the flags of one training (NeuralKG's defaults <
``--preset`` < ``--load_config`` < the command line); ``training_args`` does the same from a
mapping of values, for the commands that assemble trainings themselves (``demo``, ``iterate``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from neuralkg_distil.errors import ConfigError, warn


def add_distillation_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags neuralkg-distil adds to NeuralKG's parser."""
    group = parser.add_argument_group("Distillation Args")
    # NeuralKG's -adv can only switch self-adversarial sampling off; a recipe may switch it off too,
    # so the command line needs a way back on (same dest and default as NeuralKG's flag).
    group.add_argument("--self_adversarial", dest="negative_adversarial_sampling", default=True,
                       action=argparse.BooleanOptionalAction, help="Self-adversarial weighting of the negatives on (--self_adversarial) or off (--no-self_adversarial, the same as NeuralKG's -adv).")
    group.add_argument("--preset", default=None, type=str, help="Training recipe from neuralkg_distil/presets/recipes.yaml: auto (from --data_path's folder and --model_name), <dataset>/<model>[/<variant>], or none; flags given on the command line win.")
    group.add_argument("--teacher_ckpt", default=None, type=str, help="Teacher checkpoint (NeuralKG or ours); a,b,... for MulDE_Loss.")
    group.add_argument("--teacher_dim", default=None, type=int, help="Teacher dimension; inferred from the checkpoint, checked if given.")
    group.add_argument("--teacher_model", default=None, type=str, help="Teacher class(es); default: --model_name, or as recorded.")
    group.add_argument("--stage", default=1, type=int, choices=(1, 2), help="Stage 1 (frozen teacher) or 2 (teacher trains).")
    group.add_argument("--stage2", default=False, action="store_true", help="Same as --stage 2 (the reference code's flag).")
    group.add_argument("--student_ckpt", default=None, type=str, help="Stage 2's start; default: <run_dir>/stage1/best.ckpt.")
    group.add_argument("--student_init", default="stage1", choices=("stage1", "random"), help="Stage 2's student: from the stage-1 checkpoint, or new (the -S1 ablation; the teacher then comes from --teacher_ckpt).")
    group.add_argument("--alpha", default=0.5, type=float, help="Student's soft-label weight in [0, 1] (fixed weighting).")
    group.add_argument("--beta", default=0.5, type=float, help="Teacher's soft weight in [0, 1], stage 2 (fixed).")
    group.add_argument("--soft_weighting", default=None, choices=("fixed", "adaptive", "calibrated"), help="fixed alpha/beta; adaptive: DualDE's published gates (they can switch distillation off); calibrated: gates fitted to the true labels (DualDE_Loss's default).")
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
    group.add_argument("--soft_weight_schedule", default="constant", choices=("constant", "linear", "power", "step", "anneal"), help="Soft weights over --soft_weight_warmup epochs: grow from 0, or fall to 0 (anneal).")
    group.add_argument("--soft_weight_warmup", default=0, type=int, help="Epochs of the schedule's rise (or fall).")
    group.add_argument("--soft_weight_power", default=2.0, type=float, help="p of the power schedule: (epoch / warmup) ** p.")
    group.add_argument("--soft_label_scale", default="none", choices=("none", "dim"), help="dim: the label model's scores at the learner's dimension (distance: g - d x dL/dT; bilinear: f x dL/dT).")
    group.add_argument("--mulde_topk", default=500, type=int, help="MulDE_Loss: the junior's top K per query.")
    group.add_argument("--mulde_soft_weight", default=0.5, type=float, help="MulDE_Loss: weight of the KL soft loss.")
    group.add_argument("--mulde_temperature", default=1.0, type=float, help="MulDE_Loss: temperature of the KL soft loss.")
    group.add_argument("--mulde_tau_epochs", default=5, type=int, help="MulDE_Loss: attention temperature exp(epoch // E).")
    group.add_argument("--mulde_hard_loss", default="adv", choices=("adv", "bce"),
                       help="MulDE_Loss hard loss: adv (no-DS's) or bce.")
    group.add_argument("--rank_margin", default=1.0, type=float, help="gamma of the margin ranking loss (margin family).")
    group.add_argument("--lr_ref_dim", default=0, type=int, help="Scale each model's learning rate by (D / its dim) ** --lr_dim_power, so --lr is the rate of a D-dim model (NeuralKG's init range shrinks as 1 / dim); 0 = one rate for all.")
    group.add_argument("--lr_dim_power", default=1.0, type=float, help="Power of the --lr_ref_dim rule: 1 for distance models (TransE, TransH, RotatE), 0.5 for bilinear ones (ComplEx, DistMult).")
    group.add_argument("--lr_decay", default="halfway", choices=("halfway", "plateau", "none"), help="halfway: NeuralKG's lr / 10 at max_epochs / 2; plateau: x --lr_decay_factor after --lr_decay_patience validations without a better MRR; none.")
    group.add_argument("--wandb_log_model", default=False, action="store_true", help="With --use_wandb: the checkpoints as a wandb model artifact.")
    group.add_argument("--early_stop_after_decay", default=False, action="store_true", help="No stop before a scheduled decay; patience restarts after one.")
    group.add_argument("--lr_decay_factor", default=0.96, type=float, help="Factor of --lr_decay plateau (DistilE: 0.96).")
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
    parser.epilog = "Sub-commands: demo, experiment, sweep, iterate, inherit, fetch-data, generate-graph, export, predict, evaluate, flags (each with --help)."
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
    from neuralkg_distil.run.checks import canonicalize_names
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


def render_flags(flags: Mapping[str, Any], parser: argparse.ArgumentParser, where: str) -> List[str]:
    """``--key value`` pairs checked against the training parser (store-true flags alone)."""
    actions = {a.dest: a for a in parser._actions}  # noqa: SLF001 (argparse has no public index)
    argv: List[str] = []
    for key, value in flags.items():
        action = actions.get(key)
        if action is None:
            raise ConfigError(f"{where}: unknown flag {key!r} (see neuralkg-distil --help)")
        option = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(option if value else f"--no-{option[2:]}")
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):  # noqa: SLF001
            if bool(value) == isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
                argv.append(option)
        elif isinstance(value, (list, tuple)):
            argv += [option, *(str(v) for v in value)]
        elif isinstance(value, bool):
            argv += [option, str(value).lower()]
        elif value is not None:
            argv += [option, str(value)]
    return argv


def training_args(values: Mapping[str, Any], extra: Sequence[str] = ()) -> argparse.Namespace:
    """The flags of one training from ``{flag: value}`` (plus raw ``extra`` flags), with the same
    precedence and checks as a command line."""
    return parse_args(render_flags(values, build_parser(), "training flags") + list(extra))


def save_config_file(args: argparse.Namespace, path: Path) -> Path:
    """``--save_config``: the run's flags as YAML for ``--load_config`` (those given or not at their default)."""
    import yaml

    defaults = {a.dest: a.default for a in build_parser()._actions}  # noqa: SLF001
    explicit = getattr(args, "_explicit", frozenset())
    skip = {"load_config", "config_path", "save_config", "help", "resume", "overwrite"}
    values = {
        key: value for key, value in sorted(vars(args).items())
        if key in defaults and key not in skip and isinstance(value, (str, int, float, bool, list, type(None)))
        and (key in explicit or value != defaults[key])
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    return path
