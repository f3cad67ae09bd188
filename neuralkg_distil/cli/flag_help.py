"""A command line that helps: help text with defaults, one-line errors with suggestions, config files.

:func:`improve_parser` is the one hook ``cli.build_parser`` calls after NeuralKG's
``setup_parser()`` and our own group: it replaces NeuralKG's missing or wrong help strings,
shows every default, lists the sub-commands first, orders the groups (ours first, Lightning's
Trainer flags last) and makes a misspelt flag one line with a "did you mean" (exit code 2).

``neuralkg-distil --help`` has to print without importing torch, Lightning and NeuralKG
(seconds): :func:`cached_help` prints a copy of the help written by ``python -m
neuralkg_distil.cli.flag_help --write`` when its key (the sources that define the flags and the
installed NeuralKG and Lightning versions) still matches, and returns False otherwise (the caller
then builds the real parser). ``tests/test_cli_workflow.py`` checks the copy is current.
"""
from __future__ import annotations

import argparse
import difflib
from typing import Any, Dict, Iterable, Mapping, NoReturn, Optional, Sequence

from neuralkg_distil.errors import ConfigError, suggest

PROG = "neuralkg-distil"
SUBCOMMANDS = {
    "demo": "the whole pipeline (teacher, no-DS student, stage 1, stage 2) on a generated graph",
    "experiment": "a grid of runs from a YAML file (tables and plots of the papers' layout)",
    "sweep": "a wandb sweep file run locally and offline (resumable; a results table)",
    "iterate": "IterDE: a chain of students, each distilled from the last (--dims 256,128,64)",
    "inherit": "a student made of a teacher's best coordinates, to train on with --init_ckpt",
    "fetch-data": "download (or copy) WN18RR, FB15K237, UMLS, Kinship, Nations into dataset/",
    "generate-graph": "write a small generated graph with learnable structure",
    "export": "a trained model's tables, dictionaries and a manifest (npy, safetensors, pt)",
    "predict": "top-k heads or tails of a query, by entity and relation names",
    "evaluate": "filtered link prediction of a checkpoint, without training flags",
    "flags": "the flag tables of docs/flags.md and docs/methods/ (--write, --check)",
}
HELP_WIDTH = 100

# NeuralKG 1.0.21's help strings that are missing, wrong (--data_path: "Number of additional
# processes to load data") or copied from another flag (the three batch flags).
HELP: Dict[str, str] = {
    "model_name": "KGE model class (NeuralKG's or a registered one), case-insensitive: TransE, ComplEx, RotatE, ...",
    "dataset_name": "Dataset name; given alone (without --data_path) it selects the folder dataset/<name>.",
    "data_path": "Dataset folder with train.txt, valid.txt, test.txt, entities.dict and relations.dict; "
                 "default dataset/<--dataset_name> when only --dataset_name is given.",
    "data_class": "Lightning data module class.",
    "litmodel_name": "Training system: KGELitModel or PretrainLitModel (pretraining), KGDistillLitModel (distillation).",
    "train_sampler_class": "Negative sampler for training (TorchUniSampler: vectorised, optional shared negatives).",
    "test_sampler_class": "Sampler for validation and test.",
    "loss_name": "Loss class, case-insensitive: Adv_Loss, MarginRanking_Loss, ... (pretraining); DistilE_Loss or DualDE_Loss (distillation).",
    "negative_adversarial_sampling": "Passing the flag turns NeuralKG's self-adversarial weighting of negatives off (Adv_Loss).",
    "optim_name": "torch.optim optimizer class.",
    "seed": "Random seed (Python, NumPy, torch, samplers).",
    "margin": "gamma: the fixed margin of distance models' scores (TransE, RotatE, ...).",
    "adv_temp": "Temperature of the self-adversarial weights of negatives.",
    "emb_dim": "Embedding dimension of the model trained (the student when distilling).",
    "out_dim": "Output dimension of NeuralKG's GNN models.",
    "num_neg": "Negatives per positive triple.",
    "num_ent": "Number of entities: set from the dataset (ignored).",
    "num_rel": "Number of relations: set from the dataset (ignored).",
    "check_per_epoch": "Validate (and checkpoint) every N epochs; --max_epochs below N means no validation and no best.ckpt.",
    "early_stop_patience": "Stop after N validations without a better valid MRR.",
    "num_layers": "Layers of NeuralKG's GNN models.",
    "regularization": "Weight of the model's regularisation term in the loss (N3 / L2 where the loss has one); 0: none.",
    "decoder_model": "Decoder of NeuralKG's GNN models.",
    "eval_task": "NeuralKG's validation task.",
    "calc_hits": "Hits@k cut-offs, comma-separated.",
    "filter_flag": "Passing the flag turns NeuralKG's filtering of false negatives in sampling off.",
    "gpu": "Device string of NeuralKG's RugE loss; use --accelerator / --devices to choose the device.",
    "use_wandb": "Log to Weights & Biases (project $WANDB_PROJECT, default neuralkg-distil); metrics.csv is written too.",
    "use_weight": "Weigh triples by NeuralKG's subsampling weights (Adv_Loss).",
    "checkpoint_dir": "Checkpoint to test with --test_only.",
    "save_config": "Save the run's flags (those given or not at their default) to <stage folder>/config.yaml, for --load_config.",
    "load_config": "Read flags from the YAML file --config_path (keys: flag names); flags on the command line win.",
    "config_path": "YAML file of flags for --load_config.",
    "freq_init": "Initial count of NeuralKG's frequency-based subsampling weights (--use_weight).",
    "test_only": "Only test the checkpoint --checkpoint_dir; no training.",
    "shuffle": "Passing the flag turns shuffling off in NeuralKG's rule data loader.",
    "norm_flag": "Normalise embeddings in TransH / TransR.",
    "slackness_penalty": "Only on RugE: slackness penalty of soft rules.",
    "partial_2hop": "Only on KBAT: use partial 2-hop neighbours.",
    "max_entialments": "Only on IterE: maximum number of entailments.",
    "axiom_types": "Only on IterE: number of axiom types.",
    "select_probability": "Only on IterE: probability of selecting an axiom.",
    "axiom_weight": "Only on IterE: weight of axioms.",
    "inject_triple_percent": "Only on IterE: share of injected triples.",
    "update_axiom_per": "Only on IterE: update the axioms every N epochs.",
    "lr": "Learning rate.",
    "weight_decay": "Only on RugE: weight of the L2 term (NeuralKG's optimizers get no weight decay).",
    "train_bs": "Training batch size in triples; 0: the training triples split into --num_batches batches.",
    "num_batches": "Batches per epoch when --train_bs is 0.",
    "eval_bs": "Validation and test batch size in triples.",
    "num_workers": "Data-loading worker processes (0: load in the training process).",
    # Lightning's Trainer flags whose meaning neuralkg-distil changes.
    "accelerator": "cpu, gpu, ...; unset: auto (a GPU when present).",
    "devices": "Number of devices; unset: 1.",
    "enable_progress_bar": "Show Lightning's progress bar; not given: only when stdout is a terminal "
                           "(otherwise one line per validation).",
    "max_epochs": "Epoch cap; early stopping on valid MRR (--early_stop_patience) may stop sooner.",
    "enable_model_summary": "Print the model summary (shown with --verbose).",
}

# NeuralKG's flags that only some of its (mostly GNN or rule-based) models read: a group of their own.
MODEL_SPECIFIC = (
    "out_dim", "num_layers", "decoder_model", "gpu", "freq_init", "shuffle", "norm_flag", "slackness_penalty",
    "opn", "dis_order", "mu", "epoch_GAT", "partial_2hop", "dropout", "neg_weight", "emb_shape", "inp_drop",
    "hid_drop", "fet_drop", "hid_size", "smoothing", "max_entialments", "axiom_types", "select_probability",
    "axiom_weight", "inject_triple_percent", "update_axiom_per", "phase_weight", "modulus_weight",
    "regularization_two", "num_ent", "num_rel", "eval_task",
)


class DefaultsFormatter(argparse.HelpFormatter):
    """Help with every flag's default, "(default: X)", at a fixed width (the cached copy matches)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 34, width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or HELP_WIDTH)

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        dest = action.dest
        if dest.endswith(("_path", "_ckpt", "_dir")):
            return "PATH"
        return {int: "N", float: "X"}.get(action.type, "NAME" if dest.endswith(("_name", "_class", "_model")) else "VALUE")

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is argparse.SUPPRESS or default == "" or "%(default)" in text or "default:" in text
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))  # noqa: SLF001
                or (isinstance(action, argparse._StoreTrueAction) and default is False)):  # noqa: SLF001 (off unless given)
            return text
        if isinstance(default, (list, tuple)):
            shown = ",".join(str(v) for v in default)
        else:
            shown = str(default)
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):  # noqa: SLF001
            shown = str(default).lower()
        shown = shown.replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class HelpfulParser(argparse.ArgumentParser):
    """One-line errors (no 97-line usage) with a "did you mean" for misspelt flags; exit code 2."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = unrecognized_message(message.split(": ", 1)[1].split(), self)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def unrecognized_message(tokens: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """"unknown flag --lrr; did you mean --lr?" for the first unknown flag (or stray value)."""
    options = [o for a in parser._actions for o in a.option_strings]  # noqa: SLF001
    for token in tokens:
        if token.startswith("-"):
            flag = token.split("=", 1)[0]
            match = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]}?" if match else ""
            more = f" (and {len(tokens) - 1} more argument(s))" if len(tokens) > 1 else ""
            return f"unknown flag {flag}{hint}{more}"
    match = suggest(tokens[0], SUBCOMMANDS)
    if match:
        return f"unknown sub-command {tokens[0]}; did you mean {match}?"
    return f"unexpected argument(s): {' '.join(tokens)} (flags take one value each; sub-commands come first)"


def usage() -> str:
    subs = ",".join(SUBCOMMANDS)
    return f"{PROG} {{{subs}}} ...  (each with --help)\n       {PROG} [FLAGS]  (train: pretraining, distillation stage 1 or 2)"


def description() -> str:
    lines = ["Distil a large knowledge-graph embedding into a small one (NeuralKG plugin).", "", "sub-commands:"]
    width = max(len(s) for s in SUBCOMMANDS)
    lines += [f"  {name.ljust(width)}  {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "Without a sub-command it trains: with --litmodel_name KGELitModel or PretrainLitModel it pretrains a "
              "model, with KGDistillLitModel it distils (--teacher_ckpt; --stage 2). Flags on the command line win over "
              "--preset recipes and --load_config files."]
    return "\n".join(lines)


def improve_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Help strings, defaults, group order, sub-commands first and one-line errors (in place)."""
    parser.__class__ = HelpfulParser
    parser.prog = PROG
    parser.usage = usage()
    parser.description = description()
    parser.epilog = "Each flag's default is shown; --verbose brings back Lightning's own messages."
    parser.formatter_class = _Formatter
    for group in parser._action_groups:  # noqa: SLF001
        if group.title == "pl.Trainer":
            for action in group._group_actions:  # noqa: SLF001
                action.help = short_lightning_help(action.help or "")
    for action in parser._actions:  # noqa: SLF001
        # NeuralKG's flag only; our on/off twin of a store_false flag (same dest) keeps its own help
        if action.dest in HELP and not isinstance(action, argparse.BooleanOptionalAction):
            action.help = HELP[action.dest]
    _regroup(parser)
    return parser


def short_lightning_help(text: str) -> str:
    """The first sentence of a Lightning Trainer docstring, without reST markup or "Default: ..." ."""
    import re

    deprecated = ".. deprecated::" in text
    text = re.split(r"\s*\.\. deprecated::", text)[0]
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r":\w+:`~?([^`]*)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = re.sub(r"\s*Default:.*$", "", text, flags=re.S)
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[a-z0-9)])\.\s", text + " ", maxsplit=1)[0].strip().rstrip(".")
    return (sentence + "." if sentence else "") + (" Deprecated." if deprecated else "")


class _Formatter(DefaultsFormatter):
    """Defaults shown, and the description's own line breaks kept."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return "\n".join(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent + "  ")
                         if line else "" for line in text.splitlines())


def _regroup(parser: argparse.ArgumentParser) -> None:
    """Ours first, then NeuralKG's common flags, its model-specific ones, Lightning's Trainer last."""
    groups = list(parser._action_groups)  # noqa: SLF001
    by_title = {g.title: g for g in groups}
    options = by_title.get("options") or by_title.get("optional arguments")
    specific = parser.add_argument_group("NeuralKG flags of some models only")
    if options is not None:
        for action in list(options._group_actions):  # noqa: SLF001
            if action.dest in MODEL_SPECIFIC:
                options._group_actions.remove(action)  # noqa: SLF001
                specific._group_actions.append(action)  # noqa: SLF001
        options.title = "NeuralKG flags"
    by_title = {g.title: g for g in parser._action_groups}  # noqa: SLF001
    order = ["Distillation Args", "Output", "NeuralKG flags", "Data Args", "LitModel Args", specific.title]
    ordered = [by_title[t] for t in order if t in by_title]
    lightning = by_title.get("pl.Trainer")
    rest = [g for g in parser._action_groups if g not in ordered and g is not lightning]  # noqa: SLF001
    final = ordered + rest + ([lightning] if lightning is not None else [])
    if lightning is not None:
        lightning.title = "Lightning Trainer flags (pl.Trainer)"
    parser._action_groups[:] = [g for g in final if g._group_actions]  # noqa: SLF001


# ------------------------------------------------------------------------------------------------ config files
def load_config_file(path: str, dests: Iterable[str]) -> Dict[str, Any]:
    """NeuralKG's ``--load_config --config_path FILE``: a YAML mapping of flag names to values."""
    from neuralkg_distil.yaml_files import read_yaml_file

    if not path:
        raise ConfigError("--load_config needs --config_path FILE.yaml")
    data = read_yaml_file(path, "--config_path")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of flag names to values, got {type(data).__name__}")
    known = set(dests)
    values: Dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).lstrip("-")
        if name not in known:
            match = suggest(name, known)
            raise ConfigError(f"{path}: unknown key {key!r}" + (f"; did you mean {match!r}?" if match else " (keys are flag names)"))
        values[name] = value
    # These two only say where the file is; the file cannot point to another one.
    values.pop("load_config", None)
    values.pop("config_path", None)
    return values


def explicit_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set:
    """The flags (by dest) given on the command line, whatever their values."""
    saved = {a: a.default for a in parser._actions}  # noqa: SLF001
    saved_defaults = dict(parser._defaults)  # noqa: SLF001
    try:
        for action in parser._actions:  # noqa: SLF001
            action.default = argparse.SUPPRESS
        parser._defaults.clear()  # noqa: SLF001
        namespace, _ = parser.parse_known_args(list(argv))
        return set(vars(namespace))
    finally:
        for action, default in saved.items():
            action.default = default
        parser._defaults.update(saved_defaults)  # noqa: SLF001
