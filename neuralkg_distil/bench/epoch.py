"""``python -m neuralkg_distil.bench epoch``: seconds per training epoch and per validation, NeuralKG's path against ours.

For each model (TransE, TransH, ComplEx, RotatE by default) at ``--dim`` dimensions on WN18RR with
the paper's negatives (5 per triple for TransE / TransH, 25 for ComplEx / RotatE; per-triple,
filtered, drawn by TorchUniSampler), batch 1024, Adam:

* ``no-DS``: hard loss only (NeuralKG's self-adversarial ``Adv_Loss``), what PretrainLitModel does;
* ``stage1``: DualDE stage 1, a frozen ``--teacher_dim`` teacher (inference mode, scores cloned)
  and a ``--student_dim`` student, what KGDistillLitModel does;

each timed for NeuralKG's path (NeuralKGTrainScorer: ``model(pos)`` and ``model(pos, neg, mode)``,
PyTorch's default Adam, as NeuralKG's KGELitModel) and ours (FastTrainScorer, fused Adam where
PyTorch has it). An epoch is every training batch once: sampling, scoring, loss, backward and
optimizer step (no Lightning loop around it). ``--max_batches`` times that many batches per epoch
and extrapolates to the full epoch (the table then says so). ``valid_s`` is one full filtered
evaluation of the valid triples (both directions) by RankingEvaluator at ``--dim`` dimensions.
Each path runs in its own process. The last line is
``epoch_s_max=<slowest of ours> epoch_speedup_min=<smallest NeuralKG/ours> stage1_over_nods_max=<largest stage1/no-DS, ours>``.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from neuralkg_distil.bench.common import default_data_path, isolated, neuralkg_args, print_table
from neuralkg_distil.kge.adapter import adapter_for, registered_adapters

PATHS = ("neuralkg", "ours")
SETTINGS = ("no-DS", "stage1")


def _stage_models(
    model_name: str, setting: str, dim: int, teacher_dim: int, student_dim: int, num_ent: int, num_rel: int,
) -> Tuple[torch.nn.Module, Optional[torch.nn.Module], Any, Optional[torch.nn.Module]]:
    """``(model, teacher, policy, loss_fn)``: no-DS trains one model; stage 1 adds a frozen teacher and DualDE's loss."""
    from neuralkg_distil.kge.spec import ModelSpec, build_model
    from neuralkg_distil.methods.losses import DualDE_Loss
    from neuralkg_distil.methods.teacher_policy import FrozenTeacher

    spec = lambda d: ModelSpec(model_name, d, num_ent, num_rel, margin=6.0)  # noqa: E731
    model = build_model(spec(student_dim if setting == "stage1" else dim))
    teacher = policy = None
    loss_fn: Optional[torch.nn.Module] = None
    if setting == "stage1":
        teacher = build_model(spec(teacher_dim))
        policy = FrozenTeacher()
        policy.prepare(teacher)
        loss_fn = DualDE_Loss(model_name=model_name)
    return model, teacher, policy, loss_fn


def _train_step(
    path: str, adv_temp: float, model: torch.nn.Module, teacher: Optional[torch.nn.Module], policy: Any,
    loss_fn: Optional[torch.nn.Module],
) -> Callable[[Dict[str, Any]], None]:
    """One training step (scores, loss, backward, Adam) on NeuralKG's path or ours."""
    import torch.nn.functional as F

    from neuralkg_distil.training.batch_scores import FastTrainScorer, NeuralKGTrainScorer
    from neuralkg_distil.training.optim import build_optimizer

    params = list(model.parameters()) + (list(loss_fn.parameters()) if loss_fn is not None else [])
    params = [p for p in params if p.requires_grad]
    optimizer = build_optimizer(torch.optim.Adam, params, 1e-4, fused=path == "ours")
    scorer = FastTrainScorer() if path == "ours" else NeuralKGTrainScorer()

    def step(batch: Dict[str, Any]) -> None:
        scores = scorer(model, batch)
        if teacher is None:  # NeuralKG's Adv_Loss (self-adversarial), as in PretrainLitModel
            neg = (F.softmax(scores.neg * adv_temp, dim=1).detach() * F.logsigmoid(-scores.neg)).sum(dim=1)
            loss = -(F.logsigmoid(scores.pos).mean() + neg.mean()) / 2
        else:
            with policy.scoring():
                teacher_scores = scorer(teacher, batch)
            loss = loss_fn(scores, teacher_scores.clone(), 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def _time_epochs(
    sampler: Any, step: Callable[[Dict[str, Any]], None], batch_size: int, epochs: int, max_batches: Optional[int],
    seed: int,
) -> Dict[str, Any]:
    """The fastest of ``epochs`` timed epochs (extrapolated from ``max_batches`` batches when given)."""
    triples = list(sampler.get_train())
    total = math.ceil(len(triples) / batch_size)
    timed_batches = min(total, max_batches) if max_batches else total
    rng = random.Random(seed)
    step(sampler.sampling(triples[:batch_size]))  # warm-up: lazy initialisation, allocator growth
    times, sample_times = [], []
    for _ in range(epochs):
        rng.shuffle(triples)
        sampling = 0.0
        start = time.perf_counter()
        for i in range(timed_batches):
            t0 = time.perf_counter()
            batch = sampler.sampling(triples[i * batch_size : (i + 1) * batch_size])
            sampling += time.perf_counter() - t0
            step(batch)
        scale = total / timed_batches
        times.append((time.perf_counter() - start) * scale)
        sample_times.append(sampling * scale)
    best = min(range(epochs), key=times.__getitem__)
    return {"epoch_s": times[best], "sample_s": sample_times[best], "batches": timed_batches, "of": total,
            "epochs": epochs, "spread": statistics.pstdev(times) if epochs > 1 else 0.0}


def epoch_path(
    model_name: str, path: str, setting: str, data_path: str, dim: int, teacher_dim: int, student_dim: int,
    num_neg: int, batch_size: int, epochs: int, max_batches: Optional[int], threads: Optional[int], seed: int,
) -> Dict[str, Any]:
    """Seconds per training epoch of one (model, path, setting): the fastest of ``epochs`` epochs."""
    import neuralkg_distil  # noqa: F401

    from neuralkg_distil.run.runtime import keep_freed_memory
    from neuralkg_distil.training.sampling import TorchUniSampler

    if path == "ours":
        keep_freed_memory()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    args = neuralkg_args(data_path, model_name=model_name, num_neg=num_neg, train_bs=batch_size)
    sampler = TorchUniSampler(args)
    models = _stage_models(model_name, setting, dim, teacher_dim, student_dim, sampler.num_ent, sampler.num_rel)
    step = _train_step(path, float(args.adv_temp), *models)
    return _time_epochs(sampler, step, batch_size, epochs, max_batches, seed)


def valid_path(model_name: str, data_path: str, dim: int, repeats: int, threads: Optional[int], seed: int) -> Dict[str, Any]:
    """Seconds of one full filtered evaluation of the valid triples (best of ``repeats``)."""
    import neuralkg_distil  # noqa: F401
    from neuralkg_distil.evaluation.ranking import RankingEvaluator
    from neuralkg_distil.kge.spec import ModelSpec, build_model
    from neuralkg_distil.run.runtime import keep_freed_memory
    from neuralkg_distil.training.sampling import TorchUniSampler

    keep_freed_memory()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    sampler = TorchUniSampler(neuralkg_args(data_path, model_name=model_name))
    model = build_model(ModelSpec(model_name, dim, sampler.num_ent, sampler.num_rel, margin=6.0)).eval()
    evaluator = RankingEvaluator.for_sampler(sampler)
    valid = torch.tensor(sampler.valid_triples, dtype=torch.long)
    evaluator.ranks(model, valid[:8])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluator.ranks(model, valid)
        times.append(time.perf_counter() - start)
    return {"valid_s": min(times), "triples": valid.shape[0]}


def paper_models() -> List[str]:
    """The models whose adapters give the papers' negatives per triple (the ones timed here)."""
    return sorted(a.name for a in registered_adapters() if a.paper_negatives)


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m neuralkg_distil.bench epoch``."""
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench epoch", description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", default=default_data_path(), help="WN18RR in NeuralKG's layout")
    parser.add_argument("--models", nargs="+", default=["TransE", "TransH", "ComplEx", "RotatE"], choices=paper_models())
    parser.add_argument("--dim", type=int, default=64, help="no-DS model and validation dimension")
    parser.add_argument("--teacher_dim", type=int, default=64, help="stage-1 teacher dimension")
    parser.add_argument("--student_dim", type=int, default=32, help="stage-1 student dimension")
    parser.add_argument("--num_neg", type=int, default=None, help="negatives per triple (default: the paper's per model)")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per path (the fastest is reported)")
    parser.add_argument("--max_batches", type=int, default=None, help="time this many batches per epoch and extrapolate")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--valid_repeats", type=int, default=2, help="timed validations per model (0: skip)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=321)
    return parser


def _model_row(args: argparse.Namespace, name: str) -> Dict[str, Any]:
    """One table row: every (setting, path) epoch of a model, each in its own process, and its validation."""
    num_neg = args.num_neg or adapter_for(name).paper_negatives
    row: Dict[str, Any] = {"model": name, "neg": num_neg}
    for setting in SETTINGS:
        for path in args.paths:
            result = isolated(
                epoch_path, model_name=name, path=path, setting=setting, data_path=args.data_path, dim=args.dim,
                teacher_dim=args.teacher_dim, student_dim=args.student_dim, num_neg=num_neg, batch_size=args.batch_size,
                epochs=args.epochs, max_batches=args.max_batches, threads=args.threads, seed=args.seed,
            )
            row[f"{setting} {path}"] = result["epoch_s"]
            if path == "ours":
                row[f"{setting} sample"] = result["sample_s"]
            print(f"  {name} {setting} {path}: {result['epoch_s']:.2f} s/epoch "
                  f"({result['batches']}/{result['of']} batches timed, sampling {result['sample_s']:.2f} s)", flush=True)
    if args.valid_repeats > 0:
        row["valid_s"] = isolated(valid_path, model_name=name, data_path=args.data_path, dim=args.dim,
                                  repeats=args.valid_repeats, threads=args.threads, seed=args.seed)["valid_s"]
    for setting in SETTINGS:
        if f"{setting} neuralkg" in row and f"{setting} ours" in row:
            row[f"{setting} speedup"] = f"{row[f'{setting} neuralkg'] / row[f'{setting} ours']:.1f}x"
    if "stage1 ours" in row and "no-DS ours" in row:
        row["stage1/no-DS"] = row["stage1 ours"] / row["no-DS ours"]
    return row


def _columns(args: argparse.Namespace) -> List[str]:
    """The table's columns for the paths and settings that were run."""
    columns = ["model", "neg"]
    for setting in SETTINGS:
        columns += [f"{setting} {p}" for p in args.paths]
        columns += [f"{setting} speedup"] if len(args.paths) == 2 else []
        columns += [f"{setting} sample"] if "ours" in args.paths else []
    columns += ["stage1/no-DS"] if "ours" in args.paths else []
    columns += ["valid_s"] if args.valid_repeats > 0 else []
    return columns


def _summary(rows: List[Dict[str, Any]]) -> str:
    """The last line: slowest epoch of ours, smallest speedup, largest stage1/no-DS ratio."""
    def values(key: str) -> List[float]:
        return [float(v) for r in rows for k, v in r.items() if k.endswith(key) and isinstance(v, (int, float))]

    ours = values(" ours")
    ratios = [r[f"{s} neuralkg"] / r[f"{s} ours"] for r in rows for s in SETTINGS if f"{s} neuralkg" in r and f"{s} ours" in r]
    nan = float("nan")
    return (f"epoch_s_max={max(ours, default=nan):.2f} epoch_speedup_min={min(ratios, default=nan):.1f} "
            f"stage1_over_nods_max={max(values('stage1/no-DS'), default=nan):.2f}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Time every model's epochs and validation, print the table and the summary line."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    threads = args.threads or torch.get_num_threads()
    extrapolated = f", {args.max_batches} batches per epoch timed and extrapolated to the full epoch" if args.max_batches else ""
    print(f"data {args.data_path}, torch threads {threads}, batch {args.batch_size}, Adam, best of {args.epochs} epoch(s){extrapolated}; "
          f"no-DS at {args.dim} dims, stage 1 teacher {args.teacher_dim} -> student {args.student_dim}", flush=True)
    rows = [_model_row(args, name) for name in args.models]
    print(f"\nseconds per training epoch (sampling included; 'sample' = its share, ours){extrapolated}; valid_s = full valid ranking")
    print_table([{k: f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows], _columns(args))
    print(_summary(rows))
    return 0
