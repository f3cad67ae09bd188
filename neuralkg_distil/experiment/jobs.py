"""Turn a job into the command line of one ``neuralkg-distil`` training, and read its state."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from neuralkg_distil.cli.parser import render_flags
from neuralkg_distil.experiment.config import Experiment, Job, is_teacher_role
from neuralkg_distil.run.folder import RESULTS_FILE

META_FILE = "job.json"
CURVE_FILE = "curve.json"  # (epoch, valid MRR) of a finished job, beside its results.json


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


def _log_rows(exp: Experiment, job: Job) -> List[Dict[str, str]]:
    """The rows of a job's CSV logs, the interrupted part first, then each resumed part in order."""
    logs = job_dir(exp, job) / "logs"
    name = job.stage_dir_name

    def part(path: Path) -> int:  # <stage>-resume2 after <stage>-resume1, and -resume10 after both
        suffix = path.parent.name[len(name) + len("-resume"):]
        return int(suffix) if suffix.isdigit() else 0

    rows: List[Dict[str, str]] = []
    for log in [logs / name / "metrics.csv", *sorted(logs.glob(f"{name}-resume*/metrics.csv"), key=part)]:
        try:
            with log.open(newline="") as handle:
                rows += list(csv.DictReader(handle))
        except (OSError, ValueError, csv.Error):
            continue
    return rows


def epochs_reached(exp: Experiment, job: Job) -> Optional[int]:
    """Last epoch an unfinished job logged (from its CSV logs, resumed parts included), for the report."""
    epochs: List[int] = []
    for row in _log_rows(exp, job):
        try:
            epochs.append(int(row["epoch"]))
        except (KeyError, TypeError, ValueError):
            continue
    return max(epochs) + 1 if epochs else None


def valid_curve(exp: Experiment, job: Job) -> List[Tuple[int, float]]:
    """(epoch, valid MRR) of every validation a job logged (column ``Eval|mrr``, resumed parts
    included; a re-validated epoch keeps its latest value), epochs counted from 0."""
    curve: Dict[int, float] = {}
    for row in _log_rows(exp, job):
        try:
            curve[int(row["epoch"])] = float(row["Eval|mrr"])
        except (KeyError, TypeError, ValueError):  # training-loss rows leave Eval|mrr blank
            continue
    return sorted(curve.items())


def write_curve(exp: Experiment, job: Job) -> List[Tuple[int, float]]:
    """Store a finished job's validation curve as ``curve.json`` beside its results.json."""
    from neuralkg_distil.checkpoint.files import atomic_write_json

    curve = valid_curve(exp, job)
    atomic_write_json({"job_id": job.job_id, "metric": "valid mrr", "epochs": [e for e, _ in curve],
                       "mrr": [m for _, m in curve]}, stage_dir(exp, job) / CURVE_FILE)
    return curve


def curve_of(exp: Experiment, job: Job) -> List[Tuple[int, float]]:
    """A job's validation curve: its curve.json, else read from its logs (jobs run before curves were kept)."""
    stored = read_json(stage_dir(exp, job) / CURVE_FILE)
    if stored and len(stored.get("epochs", [])) == len(stored.get("mrr", [])):
        return [(int(e), float(m)) for e, m in zip(stored["epochs"], stored["mrr"])]
    return valid_curve(exp, job)




def teacher_jobs(job: Job) -> List[Job]:
    """A job's teachers in role order (``teacher`` first, then ``teacher2``, ...)."""
    roles = [r for r in job.deps if is_teacher_role(r)]
    return [job.deps[r] for r in sorted(roles, key=lambda r: int(r[len("teacher"):] or 1))]


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
        argv += ["--litmodel_name", "KGDistillLitModel"]
        teachers = teacher_jobs(job)
        if len(teachers) <= 1:  # several (MulDE): each checkpoint gives its own dimension
            argv += ["--teacher_dim", str(job.teacher_dim)]
        if teachers:
            argv += ["--teacher_ckpt", ",".join(str(checkpoint_of(exp, t)) for t in teachers)]
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
