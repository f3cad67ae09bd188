"""``python -m neuralkg_distil.bench speed``: the reference path against ours, same data and seed.

Training: one DualDE stage-1 step (ComplEx teacher 500 -> student 64, batch 1024, 1024 negatives
per triple by default): NeuralKG's UniSampler + NeuralKG forward + DualDE loss (reference), the
vectorised sampler with per-triple negatives, and the vectorised sampler with shared negatives
scored by batched matrix products plus an inference-mode teacher (ours). Evaluation: NeuralKG's
TestSampler + ``link_predict`` on the first test triples (reference) against the filtered
evaluator on the whole test set (ours), compared per ranked triple. Each path runs in its own
process so its peak memory is its own. The last line is ``train_step_speedup=<x> eval_speedup=<y>``.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any, Dict, List, Optional, Sequence

import torch

from neuralkg_distil.bench.common import (
    default_data_path,
    isolated,
    neuralkg_args,
    peak_memory_mib,
    print_table,
    timed,
)

TRAIN_PATHS = ("reference", "per-triple", "shared")


def train_path(
    path: str, data_path: str, steps: int, teacher_dim: int, student_dim: int, batch_size: int,
    num_neg: int, chunk: int, device: str, seed: int, threads: Optional[int],
) -> Dict[str, Any]:
    """Time ``steps`` stage-1 training steps of one path (after one warm-up step)."""
    import neuralkg_distil  # noqa: F401
    from neuralkg.data import UniSampler

    from neuralkg_distil.methods.losses import DualDE_Loss
    from neuralkg_distil.kge.spec import ModelSpec, build_model
    from neuralkg_distil.training.sampling import TorchUniSampler
    from neuralkg_distil.methods.teacher_policy import FrozenTeacher
    from neuralkg_distil.training.batch_scores import FastTrainScorer, NeuralKGTrainScorer

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(seed)
    args = neuralkg_args(data_path, model_name="ComplEx", num_neg=num_neg, neg_chunk_size=chunk if path == "shared" else 0)
    sampler = UniSampler(args) if path == "reference" else TorchUniSampler(args)
    num_ent, num_rel = len(sampler.ent2id), len(sampler.rel2id)
    student = build_model(ModelSpec("ComplEx", student_dim, num_ent, num_rel, margin=6.0)).to(dev)
    teacher = build_model(ModelSpec("ComplEx", teacher_dim, num_ent, num_rel, margin=6.0)).to(dev)
    policy = FrozenTeacher()
    policy.prepare(teacher)
    loss_fn = DualDE_Loss(model_name="ComplEx").to(dev)
    optimizer = torch.optim.Adam(list(student.parameters()) + list(loss_fn.parameters()), lr=1e-4)
    scorer = FastTrainScorer() if path == "shared" else NeuralKGTrainScorer()
    triples = sampler.get_train()
    rng = random.Random(seed)
    baseline = peak_memory_mib(dev)

    def step() -> None:
        batch = sampler.sampling(rng.sample(triples, batch_size))
        batch = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        student_scores = scorer(student, batch)
        if path == "reference":
            with torch.no_grad():
                teacher_scores = scorer(teacher, batch)
        else:
            with policy.scoring():
                teacher_scores = scorer(teacher, batch)
            teacher_scores = teacher_scores.clone()
        loss = loss_fn(student_scores, teacher_scores, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    timed(step, dev)  # warm-up: lazy initialisation, allocator growth
    times = [timed(step, dev) for _ in range(steps)]
    return {"path": path, "step_s": statistics.mean(times), "steps": steps, "peak_mib": peak_memory_mib(dev), "baseline_mib": baseline}


def eval_path(path: str, data_path: str, dim: int, num_triples: int, eval_bs: int, device: str, seed: int,
              threads: Optional[int]) -> Dict[str, Any]:
    """Filtered ranking of test triples by one path: seconds, triples ranked, MRR."""
    import neuralkg_distil  # noqa: F401
    from neuralkg.data import TestSampler, UniSampler
    from neuralkg.eval_task import link_predict

    from neuralkg_distil.evaluation.ranking import RankingEvaluator
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(seed)
    args = neuralkg_args(data_path, model_name="ComplEx", eval_bs=eval_bs)
    sampler = UniSampler(args)
    num_ent, num_rel = len(sampler.ent2id), len(sampler.rel2id)
    model = build_model(ModelSpec("ComplEx", dim, num_ent, num_rel, margin=6.0)).to(dev).eval()
    test = sampler.test_triples[:num_triples] if num_triples else sampler.test_triples
    started = time.perf_counter()
    with torch.no_grad():
        if path == "reference":
            test_sampler = TestSampler(sampler)
            ranks = []
            for i in range(0, len(test), eval_bs):
                batch = test_sampler.sampling(test[i : i + eval_bs])
                batch = {k: v.to(dev) for k, v in batch.items()}
                ranks.append(link_predict(batch, model, prediction="all").cpu())
            ranks = torch.cat(ranks)
        else:
            evaluator = RankingEvaluator.for_sampler(sampler, batch_size=eval_bs)
            ranks = evaluator.ranks(model, torch.tensor(test, dtype=torch.long, device=dev))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - started
    return {"path": path, "seconds": seconds, "triples": len(test), "s_per_triple": seconds / len(test),
            "mrr": float((1.0 / ranks.float()).mean()), "peak_mib": peak_memory_mib(dev)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench speed", description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", default=default_data_path(), help="WN18RR in NeuralKG's layout")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--teacher_dim", type=int, default=500)
    parser.add_argument("--student_dim", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--num_neg", type=int, default=1024)
    parser.add_argument("--neg_chunk_size", type=int, default=256, help="triples sharing one set of negatives (ours)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per fast path")
    parser.add_argument("--ref_steps", type=int, default=2, help="timed training steps of the reference path")
    parser.add_argument("--eval_dim", type=int, default=64)
    parser.add_argument("--ref_eval_triples", type=int, default=256, help="test triples the reference ranks")
    parser.add_argument("--eval_bs", type=int, default=16, help="reference eval batch (NeuralKG's default)")
    parser.add_argument("--our_eval_bs", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=321)
    parser.add_argument("--skip", nargs="*", default=(), choices=("train", "eval"))
    args = parser.parse_args(list(argv) if argv is not None else None)
    common = dict(data_path=args.data_path, device=args.device, seed=args.seed, threads=args.threads)
    print(f"data {args.data_path}, device {args.device}, torch threads {args.threads or torch.get_num_threads()}")

    train_speedup = eval_speedup = float("nan")
    if "train" not in args.skip:
        rows: List[Dict[str, Any]] = []
        for path in TRAIN_PATHS:
            result = isolated(
                train_path, path=path, steps=args.ref_steps if path == "reference" else args.steps,
                teacher_dim=args.teacher_dim, student_dim=args.student_dim, batch_size=args.batch_size,
                num_neg=args.num_neg, chunk=args.neg_chunk_size, **common,
            )
            rows.append(result)
            print(f"  {path}: {result['step_s']:.3f} s/step", flush=True)
        ref = rows[0]["step_s"]
        for row in rows:
            row["speedup"] = f"{ref / row['step_s']:.1f}x"
        print(f"\ntraining step: DualDE stage 1, ComplEx {args.teacher_dim} -> {args.student_dim}, batch {args.batch_size}, "
              f"{args.num_neg} negatives (shared: chunks of {args.neg_chunk_size})")
        print_table(rows, ["path", "steps", "step_s", "speedup", "peak_mib", "baseline_mib"])
        train_speedup = ref / rows[-1]["step_s"]
    if "eval" not in args.skip:
        ref = isolated(eval_path, path="reference", dim=args.eval_dim, num_triples=args.ref_eval_triples, eval_bs=args.eval_bs, **common)
        print(f"  reference: {ref['seconds']:.1f} s for {ref['triples']} triples", flush=True)
        ours = isolated(eval_path, path="ours", dim=args.eval_dim, num_triples=0, eval_bs=args.our_eval_bs, **common)
        ref["projected_full_s"] = ref["s_per_triple"] * ours["triples"]
        ours["projected_full_s"] = ours["seconds"]
        eval_speedup = ref["s_per_triple"] / ours["s_per_triple"]
        for row in (ref, ours):
            row["speedup"] = f"{ref['s_per_triple'] / row['s_per_triple']:.1f}x"
        print(f"\nfiltered evaluation: ComplEx {args.eval_dim}, random weights; MRR over the triples each path ranked")
        print_table([ref, ours], ["path", "triples", "seconds", "s_per_triple", "projected_full_s", "speedup", "mrr", "peak_mib"])
    print(f"train_step_speedup={train_speedup:.1f} eval_speedup={eval_speedup:.1f}")
    return 0
