"""Turn a job into the command line of one ``neuralkg-distil`` training, and read its state."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.experiment.config import Experiment, Job
from neuralkg_distil.run_folder import RESULTS_FILE

META_FILE = "job.json"


def job_dir(exp: Experiment, job: Job) -> Path:
    return exp.output_dir / "jobs" / job.job_id


def stage_dir(exp: Experiment, job: Job) -> Path:
    return job_dir(exp, job) / job.stage_dir_name


def checkpoint_of(exp: Experiment, job: Job) -> Path:
    return stage_dir(exp, job) / "best.ckpt"


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def results_of(exp: Experiment, job: Job) -> Optional[Dict[str, Any]]:
    """The job's results.json, or None while it has not finished."""
    return read_json(stage_dir(exp, job) / RESULTS_FILE)


def meta_of(exp: Experiment, job: Job) -> Dict[str, Any]:
    return read_json(job_dir(exp, job) / META_FILE) or {}


def is_done(exp: Experiment, job: Job) -> bool:
    return results_of(exp, job) is not None


def epochs_reached(exp: Experiment, job: Job) -> Optional[int]:
    """Last epoch an unfinished job logged (from its CSV logs, resumed parts included), for the report."""
    logs = job_dir(exp, job) / "logs"
    name = job.stage_dir_name
    epochs: List[int] = []
    for log in [logs / name / "metrics.csv", *sorted(logs.glob(f"{name}-resume*/metrics.csv"))]:
        try:
            with log.open(newline="") as handle:
                epochs += [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("epoch")]
        except (OSError, ValueError, KeyError):
            continue
    return max(epochs) + 1 if epochs else None


def render_flags(flags: Mapping[str, Any], parser: argparse.ArgumentParser, where: str) -> List[str]:
    """``--key value`` pairs checked against the training parser (store-true flags alone)."""
    actions = {a.dest: a for a in parser._actions}  # noqa: SLF001 (argparse has no public index)
    argv: List[str] = []
    for key, value in flags.items():
        action = actions.get(key)
        if action is None:
            raise ConfigError(f"{where}: unknown flag {key!r} (see neuralkg-distil --help)")
        option = action.option_strings[0]
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):  # noqa: SLF001
            if bool(value) == isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
                argv.append(option)
        elif isinstance(value, (list, tuple)):
            argv += [option, *(str(v) for v in value)]
        elif isinstance(value, bool):
            argv += [option, str(value).lower()]
        elif value is not None:
            argv += [option, str(value)]
    return argv


def command_for(exp: Experiment, job: Job, parser: argparse.ArgumentParser) -> List[str]:
    """The ``neuralkg-distil`` flags of a job (without the program), including resume/overwrite."""
    flags: Dict[str, Any] = {"enable_progress_bar": False, "enable_model_summary": False, **job.flags}
    argv = render_flags(flags, parser, f"{exp.source}: flags of {job.kind} {job.model}")
    argv += [
        "--data_path", str(exp.datasets[job.dataset]), "--model_name", job.model, "--emb_dim", str(job.dim),
        "--seed", str(job.seed), "--run_dir", str(job_dir(exp, job)),
    ]
    if job.kind == "pretrain":
        argv += ["--litmodel_name", "PretrainLitModel"]
    else:
        argv += ["--litmodel_name", "KGDistillLitModel", "--teacher_dim", str(job.teacher_dim)]
        teacher = job.deps.get("teacher")
        if teacher is not None:
            argv += ["--teacher_ckpt", str(checkpoint_of(exp, teacher))]
        if job.kind == "stage2":
            argv += ["--stage", "2", "--student_init", job.student_init]
            if job.student_init == "stage1":
                argv += ["--student_ckpt", str(checkpoint_of(exp, job.deps["student"]))]
    here = stage_dir(exp, job)
    if (here / "last.ckpt").is_file():
        argv.append("--resume")
    elif here.exists() and any(here.iterdir()):
        argv.append("--overwrite")  # a run killed before its first checkpoint: nothing to keep
    return argv
