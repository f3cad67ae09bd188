"""The ``export``, ``predict`` and ``evaluate`` sub-commands of ``neuralkg-distil``."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.serving.export import FORMATS, MANIFEST, check_empty, export, need_safetensors
from neuralkg_distil.serving.loading import load
from neuralkg_distil.serving.predictor import KGEModelHandle


def _common(parser: argparse.ArgumentParser) -> None:
    """The flags every sub-command shares: which checkpoint, which model in it, which dataset."""
    parser.add_argument("--ckpt", required=True, help="checkpoint (ours or NeuralKG's) or export folder")
    parser.add_argument("--role", default="model", choices=("model", "teacher"), help="model: the student / pretrained model")
    parser.add_argument("--model_name", default=None, help="model class of a NeuralKG checkpoint (ours record it)")
    parser.add_argument("--data_path", default=None, help="dataset folder (default: the one the checkpoint records)")
    parser.add_argument("--device", default="cpu")


class OneLineParser(argparse.ArgumentParser):
    """A sub-command's parser whose errors are one line and exit code 2 (a ConfigError)."""

    def error(self, message: str) -> None:  # one line, exit code 2, like every other bad input
        raise ConfigError(f"{self.prog}: {message}")


def _load_for(args: argparse.Namespace) -> KGEModelHandle:
    """The model the flags name; its dictionaries are required (the commands print names)."""
    handle = load(args.ckpt, args.data_path, role=args.role, model_name=args.model_name, device=args.device)
    handle.require_names()
    return handle


def _export_main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="neuralkg-distil export", description="Write a model's tables, dictionaries and manifest.")
    _common(parser)
    parser.add_argument("--format", default="npy", choices=FORMATS)
    parser.add_argument("--out", required=True, help="a new or empty folder")
    args = parser.parse_args(argv)
    if args.format == "safetensors":
        need_safetensors()
    out = Path(args.out)
    check_empty(out)  # before the (slow) load
    handle = _load_for(args)
    export(handle, out, args.format, source=str(args.ckpt))
    manifest = json.loads((out / MANIFEST).read_text())
    print(f"exported {manifest['model']} {manifest['role']} (dim {manifest['dim']}, {manifest['num_ent']} entities, "
          f"{manifest['num_rel']} relations, {manifest['params']:,} parameters) as {args.format} to {out}: "
          f"{', '.join(manifest['files'])}, {MANIFEST}")
    return 0


def _predict_main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="neuralkg-distil predict", description="Answer (head, relation, ?) or (?, relation, tail) by names.")
    _common(parser)
    parser.add_argument("--head", default=None)
    parser.add_argument("--relation", required=True)
    parser.add_argument("--tail", default=None)
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--filtered", action="store_true", help="drop known true answers (train/valid/test)")
    args = parser.parse_args(argv)
    if args.head is None and args.tail is None:
        raise ConfigError("neuralkg-distil predict: give --head (predict tails), --tail (predict heads), or both")
    if args.topk < 1:
        raise ConfigError(f"--topk must be at least 1, got {args.topk}")
    handle = _load_for(args)
    start = time.perf_counter()
    if args.head is not None:
        answers = handle.predict_tails(args.head, args.relation, args.topk, args.filtered)
        query = f"({args.head}, {args.relation}, ?)"
    else:
        answers = handle.predict_heads(args.relation, args.tail, args.topk, args.filtered)
        query = f"(?, {args.relation}, {args.tail})"
    ranks = handle.rank(args.head, args.relation, args.tail, args.filtered) if args.head and args.tail else None
    elapsed = time.perf_counter() - start
    kind = "filtered" if args.filtered else "raw"
    print(f"{query}: top {args.topk} of {handle.num_ent} entities ({kind}), {handle.spec.model_name} dim {handle.spec.emb_dim}")
    width = max([len(str(a.entity)) for a in answers] + [6])
    for i, a in enumerate(answers, 1):
        print(f"{i:>3}  {str(a.entity):<{width}}  {a.score:.4f}")
    if ranks is not None:
        score = float(handle.score([(args.head, args.relation, args.tail)])[0])
        print(f"({args.head}, {args.relation}, {args.tail}): score {score:.4f}, {kind} rank {ranks[0]:g} as tail, {ranks[1]:g} as head")
    print(f"predict took {elapsed * 1000:.1f} ms")
    return 0


def _evaluate_main(argv: Sequence[str]) -> int:
    from neuralkg_distil.run.results import table

    parser = OneLineParser(prog="neuralkg-distil evaluate", description="Filtered MR, MRR, Hits@1/3/10 of a checkpoint.")
    _common(parser)
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args(argv)
    handle = _load_for(args)
    start = time.perf_counter()
    metrics = handle.evaluate(args.split, args.batch_size)
    row = {"model": handle.spec.model_name, "dim": handle.spec.emb_dim, "split": args.split, **metrics}
    print(table([row], ["model", "dim", "split", "mr", "mrr", "hits@1", "hits@3", "hits@10"]))
    print(f"{args.split}: {handle.split_triples(args.split).shape[0]} triples, both directions, filtered, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


COMMANDS = {"export": _export_main, "predict": _predict_main, "evaluate": _evaluate_main}


def main(argv: Sequence[str]) -> int:
    """``neuralkg-distil {export,predict,evaluate} ...`` (errors raise DistilError: one line, code 2)."""
    return COMMANDS[argv[0]](list(argv[1:]))
