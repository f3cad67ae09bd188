"""``python -m neuralkg_distil.bench inference``: the papers' efficiency table on this hardware.

For a teacher and students of smaller dimensions: parameter count, and the time to score every
WN18RR triple (train + valid + test, 93,003) for link prediction, i.e. one all-entity score row
per triple ((h, r, ?) by default; ``--both`` adds (?, r, t)), in batches of 1024, mean of 3
repeats after a warm-up, with the speed-up over the teacher. Weights are random unless a
checkpoint is given: the time does not depend on their values.
"""
from __future__ import annotations

import argparse
import statistics
from typing import Any, Dict, List, Optional, Sequence

import torch

from neuralkg_distil.bench.common import default_data_path, neuralkg_args, print_table, timed


def score_all(scorer: Any, triples: torch.Tensor, batch_size: int, both: bool) -> None:
    """Score every triple's all-entity row(s); the matrices are discarded (we time the work)."""
    for i in range(0, triples.shape[0], batch_size):
        batch = triples[i : i + batch_size]
        scorer.score_tails(batch[:, 0], batch[:, 1])
        if both:
            scorer.score_heads(batch[:, 1], batch[:, 2])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench inference", description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", default=default_data_path())
    parser.add_argument("--model_name", default="ComplEx")
    parser.add_argument("--dims", type=int, nargs="+", default=[500, 64, 32, 16, 8], help="first = teacher")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--both", action="store_true", help="also score (?, r, t) for every triple")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)

    import neuralkg_distil  # noqa: F401
    from neuralkg.data import UniSampler

    from neuralkg_distil.models import ModelSpec, build_model, parameter_count
    from neuralkg_distil.scoring import scorer_for

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sampler = UniSampler(neuralkg_args(args.data_path, model_name=args.model_name))
    triples = torch.tensor(sorted(sampler.get_all_true_triples()), dtype=torch.long, device=device)
    num_ent, num_rel = len(sampler.ent2id), len(sampler.rel2id)
    print(f"{args.model_name} on {args.data_path}: {triples.shape[0]} triples x {num_ent} entities, "
          f"batch {args.batch_size}, {args.repeats} repeats, device {device}, threads {torch.get_num_threads()}", flush=True)
    rows: List[Dict[str, Any]] = []
    for dim in args.dims:
        model = build_model(ModelSpec(args.model_name, dim, num_ent, num_rel, margin=6.0)).to(device).eval()
        scorer = scorer_for(model)
        with torch.inference_mode():
            score_all(scorer, triples[: args.batch_size], args.batch_size, args.both)  # warm-up
            times = [timed(lambda: score_all(scorer, triples, args.batch_size, args.both), device) for _ in range(args.repeats)]
        rows.append({"model": "teacher" if not rows else "student", "dim": dim, "params": parameter_count(model),
                     "seconds": statistics.mean(times), "std": statistics.pstdev(times)})
        print(f"  dim {dim}: {rows[-1]['seconds']:.2f} s", flush=True)
    for row in rows:
        row["speedup"] = f"{rows[0]['seconds'] / row['seconds']:.1f}x"
        row["compression"] = f"{rows[0]['params'] / row['params']:.1f}x"
    print_table(rows, ["model", "dim", "params", "compression", "seconds", "std", "speedup"])
    return 0
