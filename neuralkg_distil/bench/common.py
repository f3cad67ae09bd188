"""Helpers shared by the benchmarks: data loading, timing, peak memory, tables."""
from __future__ import annotations

import argparse
import copy
import multiprocessing
import resource
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch


def default_data_path() -> str:
    for candidate in (Path("dataset/WN18RR"), Path("../shared/datasets/WN18RR")):
        if (candidate / "train.txt").is_file():
            return str(candidate)
    return "dataset/WN18RR"


def neuralkg_args(data_path: str, **overrides: Any) -> argparse.Namespace:
    """NeuralKG's parsed defaults for ``data_path``, with overrides (a fresh copy each call)."""
    from neuralkg_distil.cli.parser import parse_args

    args = parse_args(["--data_path", data_path, "--train_bs", "1024", "--num_workers", "0"])
    return argparse.Namespace(**{**vars(copy.copy(args)), **overrides})


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory of this process, or peak resident memory on the CPU (in MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable[..., Dict[str, Any]], kwargs: Dict[str, Any], queue: Any) -> None:
    try:
        queue.put(fn(**kwargs))
    except BaseException as exc:  # report, don't hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def isolated(fn: Callable[..., Dict[str, Any]], **kwargs: Any) -> Dict[str, Any]:
    """Run ``fn`` in a fresh process, so its peak memory is its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, kwargs, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def print_table(rows: List[Dict[str, Any]], columns: List[str]) -> None:
    from neuralkg_distil.run.results import table

    print(table(rows, columns))
