"""Shared fixtures: a small generated graph, the benchmark data folder, and CLI helpers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

import neuralkg_distil  # noqa: F401  (registers our classes; installs the dgl stand-in if needed)

REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The benchmark datasets: $NEURALKG_DISTIL_DATA, default ../shared/datasets beside the repo."""
    return Path(os.environ.get("NEURALKG_DISTIL_DATA", REPO.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="session")
def benchmark_data() -> Path:
    root = data_root()
    if not (root / "UMLS" / "train.txt").is_file():
        pytest.fail(f"benchmark data not found at {root}: set NEURALKG_DISTIL_DATA (CI passes ../shared/datasets)")
    return root


@pytest.fixture(scope="session")
def small_graph(tmp_path_factory) -> Path:
    """A generated graph small enough for seconds-long training runs."""
    from neuralkg_distil.data.synthetic import generate_graph

    return generate_graph(tmp_path_factory.mktemp("graph") / "tiny", num_entities=60, num_relations=4, seed=3)


def cli_flags(data: Path, out: Path, *extra: str) -> List[str]:
    """Flags for short CPU runs through the real CLI."""
    return [
        "--data_path", str(data), "--output_dir", str(out), "--train_sampler_class", "TorchUniSampler",
        "--train_bs", "128", "--eval_bs", "64", "--num_neg", "8", "--num_workers", "0",
        "--check_per_epoch", "2", "--margin", "6", "--enable_progress_bar", "false",
        "--enable_model_summary", "false", "--seed", "7", *extra,
    ]
