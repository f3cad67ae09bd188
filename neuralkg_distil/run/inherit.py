"""``neuralkg-distil inherit``: a student checkpoint made of a teacher's best coordinates.

Writes a ``d``-dimensional model of the teacher's family whose tables are the teacher's ``d`` most
separating coordinates, rescaled (:mod:`neuralkg_distil.kge.coordinates`). Train it further with
any pretraining's flags plus ``--init_ckpt <out>``; the file is self-describing, so ``evaluate``,
``predict`` and ``neuralkg_distil.load`` take it too.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from neuralkg_distil.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    from neuralkg_distil.serving.cli import OneLineParser

    parser = OneLineParser(prog="neuralkg-distil inherit", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("--teacher_ckpt", required=True, help="the teacher's checkpoint (ours, or NeuralKG's with --model_name)")
    parser.add_argument("--emb_dim", required=True, type=int, help="the student's dimension (below the teacher's)")
    parser.add_argument("--out", required=True, help="the student checkpoint to write (a new file)")
    parser.add_argument("--data_path", default=None, help="dataset folder (default: the one the checkpoint records)")
    parser.add_argument("--model_name", default=None, help="model class of a NeuralKG checkpoint (ours record it)")
    parser.add_argument("--sample", type=int, default=20000, help="training triples the coordinates are judged on")
    parser.add_argument("--num_neg", type=int, default=25, help="random heads and tails per sampled triple")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"--out {out} exists; give a new file (nothing was written)")
    if args.sample <= 0 or args.num_neg <= 0:
        raise ConfigError(f"--sample and --num_neg must be > 0, got {args.sample} and {args.num_neg}")

    from neuralkg_distil.checkpoint.files import CONFIG_KEY, FORMAT_VERSION, atomic_save
    from neuralkg_distil.kge.coordinates import inherit
    from neuralkg_distil.serving.loading import load

    start = time.perf_counter()
    teacher = load(args.teacher_ckpt, args.data_path, model_name=args.model_name)
    if teacher.data_path is None:
        raise ConfigError(f"{args.teacher_ckpt} records no dataset folder; give --data_path (its train.txt is needed)")
    triples = teacher.split_triples("train")
    student, coords, sep = inherit(teacher.model, teacher.spec, args.emb_dim, triples, args.num_neg, args.sample, args.seed)
    spec = replace(teacher.spec, emb_dim=args.emb_dim)
    checkpoint = {
        "state_dict": {f"model.{k}": v for k, v in student.state_dict().items()},
        CONFIG_KEY: {
            "format": FORMAT_VERSION,
            "kind": "inherit",
            "models": {"model": spec.to_dict()},
            "dataset_checksum": teacher.dataset_checksum,
            "data_path": str(Path(teacher.data_path).resolve()),
            "inherit": {"teacher_ckpt": str(args.teacher_ckpt), "teacher_dim": int(teacher.spec.emb_dim),
                        "coordinates": coords.tolist(), "separation": [round(float(x), 6) for x in sep]},
        },
    }
    atomic_save(checkpoint, out)
    print(f"wrote {out}: {spec.model_name} {args.emb_dim} from the teacher's {teacher.spec.emb_dim} dims, coordinates "
          f"{coords.tolist()} (separation {float(sep[coords].min()):.4f}..{float(sep.max()):.4f}, mean of all "
          f"{float(sep.mean()):.4f}), {time.perf_counter() - start:.1f} s; train it with --init_ckpt {out}")
    return 0
