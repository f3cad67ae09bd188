"""Run an experiment's jobs: skip finished ones, resume interrupted ones, respect dependencies.

Each job is a ``neuralkg-distil`` training in its own process (so a crash or an out-of-memory
error ends that job only, and several can share one GPU with ``--jobs N``); its output goes to
``<output_dir>/jobs/<job id>/log.txt``. A job counts as finished when its ``results.json`` exists,
so re-running the same file skips it; a killed job continues from its ``last.ckpt``. A finished
job's validation curve is kept in ``curve.json`` beside its results. With ``--keep_rows FILE.csv``
(an earlier results.csv, e.g. the committed one) a cell whose row there is ``done`` with the same
job ids is not trained again, even where its job folders are gone; only the jobs of the other
cells run (a teacher they need is retrained if its folder is gone).
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from neuralkg_distil.checkpoint.files import atomic_write_json
from neuralkg_distil.experiment.config import Experiment, Job, load_experiment, select_cells
from neuralkg_distil.experiment.jobs import META_FILE, command_for, is_done, job_dir, meta_of, write_curve
from neuralkg_distil.experiment.report import kept_row, read_kept_rows, summary_line, write_reports
from neuralkg_distil.run.runtime import sigterm_as_interrupt

# Launch(argv, log path, env) -> a Popen-like handle (poll, send_signal, wait, kill).
Launcher = Callable[[List[str], Path, Dict[str, str]], Any]


def subprocess_launcher(argv: List[str], log: Path, env: Dict[str, str]) -> subprocess.Popen:
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "neuralkg_distil.cli.main", *argv], stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    finally:
        handle.close()


def hardware() -> str:
    """The accelerator the jobs run on, for the result rows."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
        torch_version = torch.__version__
    except ImportError:
        torch_version = "?"
    return f"CPU {platform.machine()} x{os.cpu_count()} (torch {torch_version})"


def git_commit() -> Optional[str]:
    """The package's commit (``NEURALKG_DISTIL_COMMIT`` wins, for copies without .git)."""
    if os.environ.get("NEURALKG_DISTIL_COMMIT"):
        return os.environ["NEURALKG_DISTIL_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


@dataclass
class Running:
    job: Job
    handle: Any
    started: float
    argv: List[str]


class Runner:
    """Schedules the jobs of one experiment; ``launcher`` is injectable for tests."""

    def __init__(
        self,
        exp: Experiment,
        parallel: Optional[int] = None,
        time_limit: Optional[float] = None,
        launcher: Launcher = subprocess_launcher,
        parser: Optional[argparse.ArgumentParser] = None,
        poll_s: float = 2.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.exp = exp
        self.parallel = parallel or exp.jobs_in_parallel
        self.time_limit = time_limit
        self.launcher = launcher
        self.poll_s = poll_s
        self.log = log
        if parser is None:
            import neuralkg_distil  # noqa: F401  (registers our classes)
            from neuralkg_distil.cli.parser import build_parser

            parser = build_parser()
        self.parser = parser
        self.hardware = hardware()
        self.commit = git_commit()

    def _write_meta(self, job: Job, **values: Any) -> None:
        meta = {**meta_of(self.exp, job), "job_id": job.job_id, "kind": job.kind, "model": job.model, "dim": job.dim,
                "dataset": job.dataset, "hardware": self.hardware, "git_commit": self.commit, **values}
        atomic_write_json(meta, job_dir(self.exp, job) / META_FILE)

    def run(self) -> Dict[str, int]:
        """Run every unfinished job; returns counts by outcome. SIGTERM (a scheduler's or ``kill``'s
        stop) is handled like Ctrl-C: the running trainings are stopped resumably, not orphaned."""
        with sigterm_as_interrupt():
            return self._run()

    def _run(self) -> Dict[str, int]:
        started = time.time()
        pending, counts = self._plan()
        running: Dict[str, Running] = {}
        failed: set = set()
        stopping = False
        try:
            while pending or running:
                if not stopping and self.time_limit is not None and time.time() - started > self.time_limit:
                    stopping = True
                    self.log(f"time limit of {self.time_limit:.0f} s reached: stopping {len(running)} job(s); "
                             "re-run the same command to continue")
                    for item in running.values():
                        item.handle.send_signal(signal.SIGINT)
                    pending = []
                self._collect_finished(running, counts, failed, stopping)
                self._start_ready(pending, running, counts, failed)
                if running:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            self.log("interrupted: stopping running jobs; re-run the same command to continue")
            for item in running.values():
                item.handle.send_signal(signal.SIGINT)
            for item in running.values():
                self._stop(item)
                self._write_meta(item.job, status="interrupted")
            raise
        finally:
            paths = write_reports(self.exp)
            self.log(f"{summary_line(self.exp)}; results in {paths['markdown']} and {paths['csv']}")
        return counts

    def _plan(self) -> Tuple[List[Job], Dict[str, int]]:
        """The jobs still to run (every job's flags checked first: a typo fails now, not an hour in)."""
        # Cells kept from an earlier results.csv need no job; the others need all of theirs.
        active = [c for c in self.exp.cells if kept_row(self.exp, c) is None]
        kept = len(self.exp.cells) - len(active)
        jobs = self.exp.all_jobs(active)
        for job in jobs:
            command_for(self.exp, job, self.parser)
        pending = [j for j in jobs if not is_done(self.exp, j)]
        counts = {"skipped": len(jobs) - len(pending), "done": 0, "failed": 0, "blocked": 0, "interrupted": 0}
        self.log(f"experiment {self.exp.name}: {len(self.exp.cells)} cells"
                 + (f" ({kept} kept from --keep_rows)" if kept else "") + f", {len(jobs)} jobs, "
                 f"{counts['skipped']} already finished (skipped), {len(pending)} to run, {self.parallel} at a time")
        return pending, counts

    def _collect_finished(self, running: Dict[str, Running], counts: Dict[str, int], failed: set, stopping: bool) -> None:
        """Record the jobs that ended since the last poll: done, stopped (resumable) or failed."""
        for job_id, item in list(running.items()):
            rc = item.handle.poll()
            if rc is None:
                continue
            del running[job_id]
            elapsed = round(time.time() - item.started, 1)
            if rc == 0 and is_done(self.exp, item.job):
                counts["done"] += 1
                write_curve(self.exp, item.job)
                self._write_meta(item.job, status="done", seconds=elapsed)
                self.log(f"done     {job_id} ({elapsed:.0f} s)")
            elif stopping:
                counts["interrupted"] += 1
                self._write_meta(item.job, status="interrupted", seconds=elapsed)
                self.log(f"stopped  {job_id} (resumable)")
            else:
                counts["failed"] += 1
                failed.add(job_id)
                self._write_meta(item.job, status=f"failed (exit {rc})", seconds=elapsed)
                self.log(f"FAILED   {job_id} (exit {rc}); see {job_dir(self.exp, item.job) / 'log.txt'}")

    def _start_ready(self, pending: List[Job], running: Dict[str, Running], counts: Dict[str, int], failed: set) -> None:
        """Start pending jobs whose dependencies are done, up to the parallel limit; block those whose failed."""
        for job in list(pending):
            if len(running) >= self.parallel:
                break
            deps = list(job.deps.values())
            if any(d.job_id in failed for d in deps):
                pending.remove(job)
                failed.add(job.job_id)
                counts["blocked"] += 1
                self._write_meta(job, status="blocked (a job it needs failed)")
                continue
            if not all(is_done(self.exp, d) for d in deps):
                continue
            pending.remove(job)
            argv = command_for(self.exp, job, self.parser)
            folder = job_dir(self.exp, job)
            folder.mkdir(parents=True, exist_ok=True)
            self._write_meta(job, status="running", argv=argv)
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            running[job.job_id] = Running(job, self.launcher(argv, folder / "log.txt", env), time.time(), argv)
            self.log(f"start    {job.job_id}" + (" (resuming)" if "--resume" in argv else ""))

    @staticmethod
    def _stop(item: Running, grace_s: float = 60.0) -> None:
        try:
            item.handle.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            item.handle.kill()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="neuralkg-distil experiment",
        description="Run a grid of teacher / no-DS / DS / -S1 / -S2 trainings from a YAML file; re-running skips "
        "finished jobs and resumes interrupted ones.",
    )
    parser.add_argument("--config", required=True, help="experiment YAML file (see scripts/experiments/)")
    parser.add_argument("--output_dir", default=None, help="override the file's output_dir")
    parser.add_argument("--data_root", default=None, help="folder holding the datasets (overrides the file's folders, keeps their names)")
    parser.add_argument("--only", action="append", default=[], metavar="KEY=V1,V2",
                        help="run only the cells whose KEY (dataset, model, teacher_dim, student_dim, method) is one of the values; repeatable")
    parser.add_argument("--jobs", type=int, default=None, help="trainings run at once (default: the file's 'jobs', else 1)")
    parser.add_argument("--time_limit", type=float, default=None, help="seconds; then running jobs stop resumably")
    parser.add_argument("--keep_rows", action="append", default=[], metavar="FILE.csv",
                        help="an earlier results.csv (e.g. committed under docs/results/): its done rows whose job ids "
                        "match are kept in the report and not retrained, even where the job folders are gone; repeatable")
    parser.add_argument("--report_only", action="store_true", help="only rewrite the tables and plots from finished jobs")
    parser.add_argument("--dry_run", action="store_true", help="list the cells and jobs, run nothing")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    exp = load_experiment(args.config, args.output_dir, args.data_root)
    for condition in args.only:
        exp.cells = select_cells(exp.cells, condition)
    for path in args.keep_rows:
        exp.kept_rows.update(read_kept_rows(path))
    if args.report_only:
        paths = write_reports(exp)
        print(f"{summary_line(exp)}; wrote {', '.join(str(p) for p in paths.values())}")
        return 0
    if args.dry_run:
        active = [c for c in exp.cells if kept_row(exp, c) is None]
        for job in exp.all_jobs(active):
            print(("done     " if is_done(exp, job) else "to run   ") + job.job_id)
        print(f"{len(exp.cells)} cells ({len(exp.cells) - len(active)} kept), {len(exp.all_jobs(active))} jobs")
        return 0
    counts = Runner(exp, parallel=args.jobs, time_limit=args.time_limit).run()
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0 if counts["failed"] == 0 and counts["blocked"] == 0 else 1
