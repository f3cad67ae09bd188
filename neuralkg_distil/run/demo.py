"""``neuralkg-distil demo``: the whole pipeline on a generated graph, in a few minutes on a CPU.

Pretrain a teacher, train a same-size-as-student model directly (no-DS, the baseline), distil
stage 1 and stage 2, then print teacher vs. direct student vs. distilled student. Every step
goes through the run builder's ``train``, the entry point of every command, with the same flags.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from neuralkg_distil.run.results import METRIC_COLUMNS, table


def _common(data: Path, run_root: Path, args: argparse.Namespace) -> Dict[str, Any]:
    """Flags of every training: the recipe ``<dataset>/<model>/demo`` plus the demo's own options."""
    values: Dict[str, Any] = {
        "preset": f"{data.name}/{args.model}/demo", "model_name": args.model, "data_path": str(data),
        "num_workers": 0, "seed": args.seed, "output_dir": str(run_root), "overwrite": True,
        "neg_chunk_size": args.neg_chunk_size, "enable_model_summary": False,
    }
    if args.quiet:  # else: a progress bar only on a terminal
        values["enable_progress_bar"] = False
    if args.regularization is not None:
        values["regularization"] = args.regularization
    return values


def run_demo(args: argparse.Namespace) -> Dict[str, Any]:
    """Run the four trainings and return the rows of the comparison table."""
    from neuralkg_distil.cli.parser import training_args
    from neuralkg_distil.data.synthetic import generate_graph
    from neuralkg_distil.run.builder import train

    workdir = Path(args.workdir)
    if args.data_path:
        data = Path(args.data_path)
    else:
        data = workdir / "data" / "synthetic"
        generate_graph(data, seed=args.seed)
    runs = workdir / "runs"
    common = _common(data, runs, args)
    epochs = {} if args.epochs is None else {"max_epochs": args.epochs}
    started = time.time()

    def run(values: Dict[str, Any], label: str) -> Dict[str, Any]:
        print(flush=True)
        return train(training_args({**common, **values}), label=label)

    teacher = run({"emb_dim": args.teacher_dim, **epochs}, f"teacher {args.model} {args.teacher_dim}")
    direct = run({"emb_dim": args.student_dim, **epochs}, f"no-DS student {args.model} {args.student_dim} (trained directly)")
    distil = {"emb_dim": args.student_dim, "teacher_ckpt": teacher["checkpoint"], **({"loss_name": args.loss} if args.loss else {})}
    stage1 = run({**distil, **epochs}, f"distillation stage 1: student {args.model} {args.student_dim}, teacher frozen")
    stage2 = run({**distil, "stage": 2, **({} if args.epochs is None else {"max_epochs": max(10, args.epochs // 4)})},
                 f"distillation stage 2: student {args.model} {args.student_dim} and teacher {args.teacher_dim}")

    rows = [
        {"model": "teacher", **_row(teacher["models"]["model"])},
        {"model": "student, trained directly (no-DS)", **_row(direct["models"]["model"])},
        {"model": "student, distilled stage 1", **_row(stage1["models"]["model"])},
        {"model": "student, distilled stage 1+2", **_row(stage2["models"]["model"])},
        {"model": "teacher after stage 2", **_row(stage2["models"]["teacher"])},
    ]
    print(f"\nneuralkg-distil demo: {args.model} {args.teacher_dim} -> {args.student_dim} on {data} "
          f"({time.time() - started:.0f} s, filtered test metrics)")
    print(table(rows, ("model", "dim", "params") + METRIC_COLUMNS))
    return {"rows": rows, "runs": str(runs)}


def _row(info: Dict[str, Any]) -> Dict[str, Any]:
    return {"dim": info["emb_dim"], "params": info["params"], **info["test"]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="neuralkg-distil demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", default=None, help="run on this dataset folder instead of a generated graph")
    parser.add_argument("--workdir", default="output/demo", help="where the graph and the runs go (default output/demo)")
    parser.add_argument("--model", default="ComplEx", help="KGE model for teacher and student (default ComplEx)")
    parser.add_argument("--teacher_dim", type=int, default=64)
    parser.add_argument("--student_dim", type=int, default=8)
    parser.add_argument("--loss", default=None, choices=("DualDE_Loss", "DistilE_Loss"), help="distillation loss (default: the demo recipe's, DualDE_Loss)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of pretraining and stage 1, stage 2 a quarter (default: the demo recipe's, 60 and 15)")
    parser.add_argument("--regularization", type=float, default=None, help="N3 weight of every model trained (default: the demo recipe's, 1e-4)")
    parser.add_argument("--neg_chunk_size", type=int, default=0, help="share negatives within chunks of N triples (0: per triple)")
    parser.add_argument("--seed", type=int, default=321)
    parser.add_argument("--quiet", action="store_true", help="no progress bars (without it: a bar on a terminal, "
                        "one line per validation otherwise)")
    parser.add_argument("--verbose", action="store_true", help="keep Lightning's banners and warnings")
    run_demo(parser.parse_args(list(argv) if argv is not None else None))
    return 0
