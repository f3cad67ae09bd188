"""``python -m neuralkg_distil.bench inference``: the papers' efficiency tables on this hardware.

For a teacher and students of smaller dimensions: parameter count, and the time to answer link
prediction for every WN18RR triple (train + valid + test, 93,003): the query ``(h, r, ?)`` of each
triple (``--both`` adds ``(?, r, t)``) against all entities, in batches of 1024, with the speed-up
over the teacher. A layout's models are timed in ``--repeats`` interleaved rounds (each round
times every dimension once, the order rotating) and each row reports the median, with min and
max. Each query keeps only its running top-``--k`` while entity blocks are scored (:func:`~neuralkg_distil.evaluation.ranking.stream_queries`,
the path ``predict`` and the evaluator use); ``--full_rows`` times the old definition instead
(one full all-entity score row per query, written and discarded). On the CPU the top-k runs in
the fused kernels of :mod:`~neuralkg_distil.evaluation.cpu_kernels` (``--torch_path``: the torch
block path they replace).

Two tables: the paper's Table 5 layout (teacher 64 vs students 32 / 16 / 8 for TransE, TransH,
ComplEx and RotatE) and the DualDE setting (ComplEx teacher 500 vs 64 / 32 / 16 / 8). Weights are
random: the time does not depend on their values. The last line is
``speedup_over_ratio_min=<smallest speed-up / dimension ratio over the Table 5 rows>``.
"""
from __future__ import annotations

import argparse
import statistics
from typing import Any, Dict, List, Optional, Sequence

import torch

from neuralkg_distil.bench.common import default_data_path, neuralkg_args, print_table, timed

TABLE5_MODELS = ("TransE", "TransH", "ComplEx", "RotatE")


def answer_all(scorer: Any, triples: torch.Tensor, batch_size: int, both: bool, k: int, full_rows: bool,
               num_ent: int) -> None:
    """Top-k of every triple's query (or its full score row with ``full_rows``); results are discarded."""
    from neuralkg_distil.evaluation.ranking import stream_queries

    for i in range(0, triples.shape[0], batch_size):
        h, r, t = triples[i : i + batch_size].unbind(1)
        if full_rows:
            scorer.score_tails(h, r)
            if both:
                scorer.score_heads(r, t)
            continue
        stream_queries(scorer, True, h, r, num_ent, k=k)
        if both:
            stream_queries(scorer, False, t, r, num_ent, k=k)


def _prepared(model_name: str, dim: int, num_ent: int, num_rel: int, device: torch.device) -> tuple[Any, int]:
    """A randomly initialised model's scorer and its parameter count."""
    from neuralkg_distil.kge.spec import ModelSpec, build_model, parameter_count
    from neuralkg_distil.kge.scoring import scorer_for

    torch.manual_seed(0)
    model = build_model(ModelSpec(model_name, dim, num_ent, num_rel, margin=6.0)).to(device).eval()
    return scorer_for(model), parameter_count(model)


def interleaved_times(runs: Sequence[Any], repeats: int, device: torch.device) -> List[List[float]]:
    """``repeats`` rounds in which every run is timed once, the order rotating by one each round.

    The teacher and its students are timed side by side rather than one after the other, so a
    change of load on a shared machine (measured: the same TransE-64 row at 8.65 and 11.69 s in
    back-to-back runs) falls on every row of a round alike instead of on one row's repeats."""
    times: List[List[float]] = [[] for _ in runs]
    for round_ in range(repeats):
        for j in range(len(runs)):
            i = (j + round_) % len(runs)
            times[i].append(timed(runs[i], device))
    return times


def table(model_name: str, dims: Sequence[int], num_ent: int, num_rel: int, triples: torch.Tensor,
          args: argparse.Namespace, device: torch.device) -> List[Dict[str, Any]]:
    """One layout's rows: the first dimension is the teacher; seconds are the median of the rounds."""
    prepared = [_prepared(model_name, dim, num_ent, num_rel, device) for dim in dims]

    def runner(scorer: Any, part: torch.Tensor) -> Any:
        return lambda: answer_all(scorer, part, args.batch_size, args.both, args.k, args.full_rows, num_ent)

    with torch.inference_mode():
        for scorer, _ in prepared:
            runner(scorer, triples[: args.batch_size])()  # warm-up (compiles the kernels once)
        times = interleaved_times([runner(scorer, triples) for scorer, _ in prepared], args.repeats, device)
    rows: List[Dict[str, Any]] = []
    for dim, (_, params), ts in zip(dims, prepared, times):
        rows.append({"role": "teacher" if not rows else "student", "model": model_name, "dim": dim, "params": params,
                     "seconds": statistics.median(ts), "min": min(ts), "max": max(ts)})
        print(f"  {model_name} dim {dim}: median {rows[-1]['seconds']:.2f} s (min {min(ts):.2f}, max {max(ts):.2f})",
              flush=True)
    teacher = rows[0]
    for row in rows:
        speedup = teacher["seconds"] / row["seconds"]
        ratio = teacher["dim"] / row["dim"]
        row["compression"] = f"{teacher['params'] / row['params']:.1f}x"
        row["speedup"] = f"{speedup:.1f}x"
        row["dim_ratio"] = f"{ratio:.1f}x"
        row["speedup/ratio"] = None if row is teacher else round(speedup / ratio, 2)
        row["_score"] = None if row is teacher else speedup / ratio
    return rows


COLUMNS = ["role", "dim", "model", "params", "compression", "seconds", "min", "max", "speedup", "dim_ratio", "speedup/ratio"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench inference", description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", default=default_data_path())
    parser.add_argument("--models", nargs="+", default=list(TABLE5_MODELS), help="models of the Table 5 layout")
    parser.add_argument("--table5_dims", type=int, nargs="+", default=[64, 32, 16, 8], help="first = teacher")
    parser.add_argument("--model_name", default="ComplEx", help="model of the DualDE table")
    parser.add_argument("--dims", type=int, nargs="+", default=[500, 64, 32, 16, 8], help="DualDE table; first = teacher")
    parser.add_argument("--no_dualde", action="store_true", help="skip the DualDE table")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max_triples", type=int, default=None, help="time only the first N triples (a shortened run)")
    parser.add_argument("--k", type=int, default=10, help="top-k kept per query")
    parser.add_argument("--both", action="store_true", help="also answer (?, r, t) for every triple")
    parser.add_argument("--full_rows", action="store_true", help="time full score rows (the old definition) instead of top-k")
    parser.add_argument("--torch_path", action="store_true",
                        help="time the torch block path instead of the fused CPU kernels (NEURALKG_DISTIL_KERNELS=0)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)

    import os

    import neuralkg_distil  # noqa: F401
    from neuralkg.data import UniSampler
    from neuralkg_distil.evaluation import cpu_kernels

    if args.torch_path:
        os.environ["NEURALKG_DISTIL_KERNELS"] = "0"

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sampler = UniSampler(neuralkg_args(args.data_path, model_name=args.model_name))
    triples = torch.tensor(sorted(sampler.get_all_true_triples()), dtype=torch.long, device=device)
    total = triples.shape[0]
    if args.max_triples is not None and args.max_triples < total:
        triples = triples[: args.max_triples]
    num_ent, num_rel = len(sampler.ent2id), len(sampler.rel2id)
    what = "full score rows" if args.full_rows else f"streaming top-{args.k}"
    if not args.full_rows:
        fused = device.type == "cpu" and cpu_kernels.available()
        what += (", fused CPU kernels (numba; RotH, TransR and TransH with norm_flag: torch path)" if fused
                 else f", torch block path ({cpu_kernels.unavailable_reason() or 'not a CPU device'})")
    print(f"{args.data_path}: {triples.shape[0]} of {total} triples x {num_ent} entities, "
          f"{'(h, r, ?) and (?, r, t)' if args.both else '(h, r, ?)'} per triple, {what}, batch {args.batch_size}, "
          f"median of {args.repeats} interleaved rounds after a warm-up, device {device}, threads {torch.get_num_threads()}; "
          "randomly initialised models (time does not depend on the weights)", flush=True)
    if triples.shape[0] < total or args.repeats < 3:
        print(f"SHORTENED RUN: {triples.shape[0]} of {total} triples, {args.repeats} repeat(s)", flush=True)

    table5: List[Dict[str, Any]] = []
    for model_name in args.models:
        table5 += table(model_name, args.table5_dims, num_ent, num_rel, triples, args, device)
    print(f"\nTable 5 layout: teacher {args.table5_dims[0]} vs students {args.table5_dims[1:]}")
    print_table(table5, COLUMNS)
    if not args.no_dualde:
        dualde = table(args.model_name, args.dims, num_ent, num_rel, triples, args, device)
        print(f"\nDualDE setting: {args.model_name} teacher {args.dims[0]} vs students {args.dims[1:]}")
        print_table(dualde, COLUMNS)
    scores = [row["_score"] for row in table5 if row["_score"] is not None]
    print(f"speedup_over_ratio_min={min(scores):.2f}" if scores else "speedup_over_ratio_min=nan")
    return 0
