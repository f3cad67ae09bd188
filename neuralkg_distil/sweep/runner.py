"""Run a sweep's trainings one after another, each through the project's CLI in its own process.

A run's folder is ``<output_dir>/runs/<run id>/``; it counts as finished when a stage folder in it
holds ``results.json``, so running the same sweep again skips it. A run killed part-way continues
from its ``last.ckpt`` (``--resume``), or starts again when it was killed before its first one.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from neuralkg_distil.sweep.plan import SweepRun

STAGE_DIRS = ("pretrain", "stage1", "stage2")
LOG_FILE = "log.txt"


@dataclass
class Outcome:
    """What became of one run: done, skipped (finished earlier) or failed, with its results."""

    run: SweepRun
    status: str
    results: Optional[Dict[str, Any]] = None
    seconds: Optional[float] = None


def run_dir(output_dir: Path, run: SweepRun) -> Path:
    return output_dir / "runs" / run.run_id


def _stage_dirs(folder: Path) -> List[Path]:
    return [folder / name for name in STAGE_DIRS if (folder / name).is_dir()]


def finished_results(folder: Path) -> Optional[Dict[str, Any]]:
    """The run's results.json, or None while it has not finished."""
    from neuralkg_distil.experiment.jobs import read_json

    for stage in _stage_dirs(folder):
        results = read_json(stage / "results.json")
        if results is not None:
            return results
    return None


def restart_flags(folder: Path) -> List[str]:
    """``--resume`` for a run killed after a checkpoint, ``--overwrite`` for one killed before its first."""
    stages = _stage_dirs(folder)
    if any((stage / "last.ckpt").is_file() for stage in stages):
        return ["--resume"]
    if any(any(stage.iterdir()) for stage in stages):
        return ["--overwrite"]
    return []


def launch(argv: List[str], log: Path) -> int:
    """One training through ``neuralkg_distil.cli.main``, its output appended to ``log``; the exit code."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as handle:
        return subprocess.call([sys.executable, "-u", "-m", "neuralkg_distil.cli.main", *argv],
                               stdout=handle, stderr=subprocess.STDOUT, env=env)


Launcher = Callable[[List[str], Path], int]


def run_one(output_dir: Path, run: SweepRun, launcher: Launcher = launch) -> Outcome:
    """Skip a finished run; otherwise train it (resuming where a killed attempt stopped)."""
    folder = run_dir(output_dir, run)
    results = finished_results(folder)
    if results is not None:
        return Outcome(run, "skipped", results)
    folder.mkdir(parents=True, exist_ok=True)
    flags = restart_flags(folder)
    argv = [*run.argv, "--enable_progress_bar", "false", "--run_dir", str(folder), *flags]
    started = time.time()
    code = launcher(argv, folder / LOG_FILE)
    seconds = round(time.time() - started, 1)
    results = finished_results(folder)
    if code == 0 and results is not None:
        return Outcome(run, "resumed" if "--resume" in flags else "done", results, seconds)
    return Outcome(run, f"failed (exit {code})", None, seconds)
