"""The experiment runner: grid expansion, job sharing and hashing, skipping finished jobs,
resuming interrupted ones, the reports, and one real run on a generated graph."""
from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import yaml

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.experiment.config import Cell, expand_grid, load_experiment, select_cells
from neuralkg_distil.experiment.jobs import command_for, job_dir, stage_dir
from neuralkg_distil.experiment.report import kept_row, method_curves, read_kept_rows, rows_of
from neuralkg_distil.experiment.runner import Runner

METRICS = {"mrr": 0.5, "hits@1": 0.4, "hits@3": 0.5, "hits@10": 0.7, "mr": 3.0}


def write_config(folder: Path, data: Path, **changes) -> Path:
    config = {
        "name": "unit",
        "output_dir": "out",
        "seed": 5,
        "datasets": {"tiny": str(data)},
        "grid": [{"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": [8, 4],
                  "method": ["teacher", "no-DS", "DS", "-S1", "-S2"]}],
        "common": {"train_sampler_class": "TorchUniSampler", "train_bs": 128, "eval_bs": 64, "num_workers": 0,
                   "num_neg": 8, "check_per_epoch": 1, "accelerator": "cpu"},
        "phases": {"pretrain": {"loss_name": "Adv_Loss", "max_epochs": 2},
                   "stage1": {"loss_name": "DualDE_Loss", "max_epochs": 2},
                   "stage2": {"loss_name": "DualDE_Loss", "max_epochs": 1}},
        "models": {"ComplEx": {"flags": {"lr": 0.01, "margin": 6.0}, "stage2": {"lr": 0.001}}},
    }
    config.update(changes)
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def parser():
    from neuralkg_distil.cli.parser import build_parser

    return build_parser()


class FakeHandle:
    """Stands in for a training process: finishes at once (writing results) unless told to hang."""

    def __init__(self, rc, hang=False):
        self.rc = rc
        self.hang = hang
        self.signals: List[int] = []

    def poll(self):
        return None if self.hang else self.rc

    def send_signal(self, sig):
        self.signals.append(sig)
        self.hang = False
        self.rc = 130

    def wait(self, timeout=None):
        return self.rc

    def kill(self):
        self.rc = -9


class FakeLauncher:
    """Records launches; 'trains' by writing results.json into the job's stage folder."""

    def __init__(self, fail=(), hang=(), epochs=2):
        self.fail, self.hang, self.epochs = fail, hang, epochs
        self.launched: List[List[str]] = []
        self.handles: List[FakeHandle] = []

    def __call__(self, argv, log, env):
        self.launched.append(argv)
        run_dir = Path(argv[argv.index("--run_dir") + 1])
        kind = run_dir.name.split("-")[0]
        folder = run_dir / ("pretrain" if kind == "pretrain" else kind)
        folder.mkdir(parents=True, exist_ok=True)
        hang = any(run_dir.name.startswith(p) for p in self.hang)
        if any(run_dir.name.startswith(p) for p in self.fail):
            handle = FakeHandle(1)
        elif hang:
            (folder / "last.ckpt").write_bytes(b"partial")
            handle = FakeHandle(None, hang=True)
        else:
            (folder / "best.ckpt").write_bytes(b"weights")
            dim = int(argv[argv.index("--emb_dim") + 1])
            model = {"emb_dim": dim, "params": 10 * dim, "test": METRICS, "valid": METRICS}
            results = {"epochs": self.epochs, "wall_time_s": 1.5, "models": {"model": model, "teacher": model}}
            (folder / "results.json").write_text(json.dumps(results))
            # Lightning's CSV log: a training-loss row and a validation row per epoch
            logs = run_dir / "logs" / folder.name
            logs.mkdir(parents=True, exist_ok=True)
            lines = "".join(f"{e},{e},0.5,\n{e},{e},,{0.1 * (e + 1):.1f}\n" for e in range(self.epochs))
            (logs / "metrics.csv").write_text("epoch,step,Train|loss,Eval|mrr\n" + lines)
            handle = FakeHandle(0)
        self.handles.append(handle)
        return handle


def runner(exp, parser, launcher, **kwargs) -> Runner:
    return Runner(exp, parallel=2, launcher=launcher, parser=parser, poll_s=0.0, log=lambda msg: None, **kwargs)


def test_grid_expands_to_cells_without_repeats():
    cells = expand_grid([
        {"dataset": "D", "model": ["A", "B"], "teacher_dim": 64, "student_dim": [32, 8], "method": ["teacher", "no-DS", "DS"]},
        {"dataset": "D", "model": "A", "teacher_dim": 64, "student_dim": 8, "method": "DS"},  # a repeat
    ])
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys))
    # teacher cells do not depend on the student dimension: one per (model, teacher dim)
    assert [c for c in cells if c.method == "teacher"] == [Cell("D", "A", 64, 64, "teacher"), Cell("D", "B", 64, 64, "teacher")]
    assert len(cells) == 2 * (1 + 2 * 2)
    assert [c.model for c in select_cells(cells, "model=B")] == ["B"] * 5


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"dataset": "D", "model": "A", "teacher_dim": 64, "student_dim": 8, "method": "KD"}, "unknown method 'KD'"),
        ({"dataset": "D", "model": "A", "teacher_dim": 64, "student_dim": 0, "method": "DS"}, "student_dim must be a positive integer"),
        ({"dataset": "D", "model": "A", "teacher_dim": 64, "method": "DS"}, "missing key(s) student_dim"),
        ({"dataset": "D", "model": "A", "teacher_dim": 64, "student_dim": 8, "method": "DS", "lr": 1}, "unknown key(s) lr"),
    ],
)
def test_bad_grid_entries_are_named(entry, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand_grid([entry])


def test_config_errors_name_the_file(tmp_path, small_graph):
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.yaml")
    bad = write_config(tmp_path, small_graph, common={"emb_dim": 4})
    with pytest.raises(ConfigError, match=r"exp.yaml: common: emb_dim is set by the runner"):
        load_experiment(bad)
    (tmp_path / "broken.yaml").write_text("grid: [unclosed")
    with pytest.raises(ConfigError, match=r"broken.yaml(:\d+)?: not valid YAML"):
        load_experiment(tmp_path / "broken.yaml")


def test_jobs_are_shared_and_hashes_follow_the_settings(tmp_path, small_graph):
    exp = load_experiment(write_config(tmp_path, small_graph))
    jobs = exp.all_jobs()
    # 1 teacher + per student dim: no-DS, stage 1 (shared by DS and -S2), stage 2, stage 2 from scratch
    assert len(jobs) == 1 + 2 * 4
    teachers = {exp.jobs_for(c)["teacher"].job_id for c in exp.cells if c.method != "teacher" and c.method != "no-DS"}
    assert teachers == {exp.jobs_for(Cell("tiny", "ComplEx", 16, 16, "teacher"))["result"].job_id}
    ds, s2 = (exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, m)) for m in ("DS", "-S2"))
    assert ds["stage1"].job_id == s2["result"].job_id
    # the same file gives the same ids; a changed stage-2 setting changes stage-2 jobs only
    again = load_experiment(write_config(tmp_path, small_graph))
    assert [j.job_id for j in again.all_jobs()] == [j.job_id for j in jobs]
    models = {"ComplEx": {"flags": {"lr": 0.01, "margin": 6.0}, "stage2": {"lr": 0.002}}}
    changed = load_experiment(write_config(tmp_path, small_graph, models=models))
    before = {j.job_id for j in jobs}
    moved = [j for j in changed.all_jobs() if j.job_id not in before]
    assert moved and all(j.kind == "stage2" for j in moved)


def test_commands_wire_checkpoints_between_jobs(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph))
    ds = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "DS"))
    argv = command_for(exp, ds["result"], parser)
    assert argv[argv.index("--student_ckpt") + 1] == str(stage_dir(exp, ds["stage1"]) / "best.ckpt")
    assert argv[argv.index("--teacher_ckpt") + 1] == str(stage_dir(exp, ds["teacher"]) / "best.ckpt")
    assert argv[argv.index("--lr") + 1] == "0.001" and argv[argv.index("--loss_name") + 1] == "DualDE_Loss"
    scratch = command_for(exp, exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "-S1"))["result"], parser)
    assert "--student_ckpt" not in scratch and scratch[scratch.index("--student_init") + 1] == "random"
    with pytest.raises(ConfigError, match="unknown flag 'learning_rate'"):
        models = {"ComplEx": {"flags": {"learning_rate": 0.1}}}
        bad = load_experiment(write_config(tmp_path, small_graph, models=models))
        command_for(bad, bad.all_jobs()[0], parser)


def test_finished_jobs_are_skipped_and_failures_block_dependents(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph))
    first = FakeLauncher(fail=("stage1-tiny-ComplEx-8",))
    counts = runner(exp, parser, first).run()
    assert counts == {"skipped": 0, "done": 7, "failed": 1, "blocked": 1, "interrupted": 0}
    rows = {(r["student_dim"], r["method"]): r for r in rows_of(exp)}
    assert rows[(8, "DS")]["status"].startswith("blocked") and rows[(8, "-S2")]["status"].startswith("failed")
    assert rows[(4, "DS")]["status"] == "done" and rows[(4, "DS")]["mrr"] == 0.5

    second = FakeLauncher()
    counts = runner(exp, parser, second).run()
    # only the failed stage 1 and the stage 2 it blocked run again
    assert counts == {"skipped": 7, "done": 2, "failed": 0, "blocked": 0, "interrupted": 0}
    assert sorted(Path(a[a.index("--run_dir") + 1]).name.split("-")[0] for a in second.launched) == ["stage1", "stage2"]
    assert all(r["status"] == "done" for r in rows_of(exp))

    third = FakeLauncher()
    assert runner(exp, parser, third).run()["skipped"] == 9 and third.launched == []
    table = (exp.output_dir / "results.md").read_text()
    assert "| 8 | DS -S1 | 0.500 | 0.700 | 0.500 | 0.400 |" in table
    assert (exp.output_dir / "results.csv").read_text().count("\n") == 1 + len(exp.cells)


def test_sigterm_stops_the_running_jobs_resumably_instead_of_orphaning_them(tmp_path, small_graph, parser):
    import os
    import threading

    exp = load_experiment(write_config(tmp_path, small_graph))
    hanging = FakeLauncher(hang=("pretrain-tiny-ComplEx-16",))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner(exp, parser, hanging).run()
    finally:
        timer.cancel()
    stopped = [h for h in hanging.handles if h.signals]
    assert stopped and all(h.signals == [signal.SIGINT] for h in stopped)  # each training told to stop
    teacher = next(j for j in exp.all_jobs() if j.kind == "pretrain" and j.dim == 16)
    assert json.loads((job_dir(exp, teacher) / "job.json").read_text())["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is the runner's only while it runs


def test_time_limit_interrupts_and_the_next_run_resumes(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph))
    hanging = FakeLauncher(hang=("pretrain-tiny-ComplEx-16",))
    counts = runner(exp, parser, hanging, time_limit=0.3).run()
    assert counts["interrupted"] >= 1 and counts["done"] <= 2
    teacher = next(j for j in exp.all_jobs() if j.kind == "pretrain" and j.dim == 16)
    stopped = [h for h in hanging.handles if h.signals]
    assert stopped and all(h.signals == [signal.SIGINT] for h in stopped)
    assert json.loads((job_dir(exp, teacher) / "job.json").read_text())["status"] == "interrupted"
    assert "interrupted" in {r["status"].split(" ")[0] for r in rows_of(exp)}

    resumed = FakeLauncher()
    counts = runner(exp, parser, resumed).run()
    teacher_argv = next(a for a in resumed.launched if teacher.job_id in a[a.index("--run_dir") + 1])
    assert "--resume" in teacher_argv  # its last.ckpt is continued, not thrown away
    assert counts["failed"] == 0 and all(r["status"] == "done" for r in rows_of(exp))


@pytest.mark.slow  # a real process: run by make test and CI
def test_real_run_on_a_generated_graph_then_skip(tmp_path, small_graph):
    config = write_config(tmp_path, small_graph, grid=[
        {"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": 8,
         "method": ["teacher", "no-DS", "DS", "-S1", "-S2"]}])
    cmd = [sys.executable, "-m", "neuralkg_distil.cli.main", "experiment", "--config", str(config), "--jobs", "2"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    out = tmp_path / "out"
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["teacher", "no-DS", "DS", "-S1", "-S2"]
    for row in rows:
        assert row["status"] == "done" and 0.0 < row["mrr"] <= 1.0 and row["epochs"] >= 1
        assert row["hardware"] and row["seed"] == 5
    assert rows[2]["teacher_after_mrr"] is not None  # DS (stage 2) also reports the co-trained teacher
    assert (out / "plots" / "tiny_ComplEx_T16.png").stat().st_size > 1000
    assert (out / "plots" / "tiny_ComplEx_T16_S8_curves.png").stat().st_size > 1000
    for row in rows:  # real runs: the cap is 2 epochs (1 for stage 2), so nothing stops early
        assert row["converged"] is False and row["max_epochs"] in (1, 2) and row["lr"] in (0.01, 0.001)
    exp = load_experiment(config)
    stage1 = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "-S2"))["result"]
    curve = json.loads((stage_dir(exp, stage1) / "curve.json").read_text())
    assert curve["epochs"] == [0, 1] and all(0.0 < m <= 1.0 for m in curve["mrr"])
    assert "| 16 | teacher |" in (out / "results.md").read_text()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    assert "5 already finished (skipped), 0 to run" in second.stdout


def test_epochs_reached_counts_resumed_logs(tmp_path, small_graph):
    from neuralkg_distil.experiment.jobs import epochs_reached

    exp = load_experiment(write_config(tmp_path, small_graph))
    job = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "-S2"))["result"]
    logs = job_dir(exp, job) / "logs"
    assert epochs_reached(exp, job) is None
    for version, epochs in ((job.stage_dir_name, (0, 1)), (f"{job.stage_dir_name}-resume1", (2, 3, 4))):
        (logs / version).mkdir(parents=True)
        rows = "".join(f"{e},0.1\n" for e in epochs)
        (logs / version / "metrics.csv").write_text("epoch,Train|loss\n" + rows)
    assert epochs_reached(exp, job) == 5


def test_curves_are_kept_and_drawn_per_cell(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph))
    runner(exp, parser, FakeLauncher(epochs=3)).run()
    ds = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "DS"))
    for job in ds.values():  # every finished job keeps its (epoch, valid MRR) curve
        curve = json.loads((stage_dir(exp, job) / "curve.json").read_text())
        assert curve["epochs"] == [0, 1, 2] and curve["mrr"] == [0.1, 0.2, 0.3]
    curves = method_curves(exp, "tiny", "ComplEx", 16, 8)
    assert set(curves) == {"no-DS", "DS", "-S1", "-S2"}
    assert curves["-S2"] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    # DS: stage 1, then stage 2 shifted by stage 1's 3 epochs
    assert curves["DS"] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.1), (5, 0.2), (6, 0.3)]
    for sdim in (8, 4):
        assert (exp.output_dir / "plots" / f"tiny_ComplEx_T16_S{sdim}_curves.png").stat().st_size > 1000


def test_curve_reads_resumed_logs_and_keeps_the_latest_value(tmp_path, small_graph):
    from neuralkg_distil.experiment.jobs import valid_curve

    exp = load_experiment(write_config(tmp_path, small_graph))
    job = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "no-DS"))["result"]
    logs = job_dir(exp, job) / "logs"
    parts = {"pretrain": "0,,0.1\n1,,0.2\n1,0.3,\n", "pretrain-resume1": "1,,0.25\n2,,0.3\n",
             "pretrain-resume2": "3,,0.4\n"}
    for version, rows in parts.items():
        (logs / version).mkdir(parents=True)
        (logs / version / "metrics.csv").write_text("epoch,Train|loss,Eval|mrr\n" + rows)
    assert valid_curve(exp, job) == [(0, 0.1), (1, 0.25), (2, 0.3), (3, 0.4)]


def read_csv(path: Path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_the_protocol_columns(tmp_path, small_graph, parser):
    phases = {"pretrain": {"loss_name": "Adv_Loss", "max_epochs": 2},
              "stage1": {"loss_name": "DistilE_Loss", "max_epochs": 5, "alpha": 0.3},
              "stage2": {"loss_name": "DualDE_Loss", "soft_weighting": "fixed", "max_epochs": 2, "beta": 0.7}}
    exp = load_experiment(write_config(tmp_path, small_graph, phases=phases))
    runner(exp, parser, FakeLauncher(epochs=2)).run()
    rows = {(int(r["student_dim"]), r["method"]): r for r in read_csv(exp.output_dir / "results.csv")}
    header = (exp.output_dir / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:21] == ["dataset", "model", "teacher_dim", "student_dim", "method", "status", "mrr", "hits@10",
                           "hits@3", "hits@1", "mr", "valid_mrr", "params", "epochs", "wall_time_s",
                           "total_wall_time_s", "teacher_after_mrr", "hardware", "seed", "git_commit", "job_id"]
    assert {"lr", "alpha", "beta", "converged", "max_epochs", "job_ids"} <= set(header)
    teacher = rows[(16, "teacher")]
    assert (teacher["lr"], teacher["alpha"], teacher["beta"], teacher["max_epochs"]) == ("0.01", "", "", "2")
    assert teacher["converged"] == "False"  # 2 epochs of 2: it ran into the cap
    s2 = rows[(8, "-S2")]  # stage 1: DistilE (fixed weighting) uses alpha; beta is stage 2's
    assert (s2["lr"], s2["alpha"], s2["beta"], s2["max_epochs"], s2["converged"]) == ("0.01", "0.3", "", "5", "True")
    ds = rows[(8, "DS")]
    assert (ds["lr"], ds["alpha"], ds["beta"], ds["max_epochs"], ds["converged"]) == ("0.001", "0.5", "0.7", "2", "False")
    assert ds["job_ids"].count("=") == 3 and ds["job_id"] in ds["job_ids"]


def test_adaptive_weighting_leaves_alpha_blank_and_results_flag_wins(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph))  # DualDE_Loss: learned weights
    runner(exp, parser, FakeLauncher()).run()
    job = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "DS"))["result"]
    results = json.loads((stage_dir(exp, job) / "results.json").read_text())
    (stage_dir(exp, job) / "results.json").write_text(json.dumps({**results, "stopped_early": True}))
    row = next(r for r in rows_of(exp) if (r["student_dim"], r["method"]) == (8, "DS"))
    assert row.get("alpha") is None and row.get("beta") is None and row["converged"] is True


def test_kept_rows_are_not_retrained_on_a_fresh_machine(tmp_path, small_graph, parser):
    config = write_config(tmp_path, small_graph)
    exp = load_experiment(config)
    runner(exp, parser, FakeLauncher()).run()
    committed = tmp_path / "committed.csv"
    shutil.copy(exp.output_dir / "results.csv", committed)
    before = {(r["student_dim"], r["method"]): r for r in rows_of(exp)}
    shutil.rmtree(exp.output_dir)  # a fresh machine: no job folders

    fresh = load_experiment(config)
    fresh.kept_rows = read_kept_rows(committed)
    launcher = FakeLauncher()
    counts = runner(fresh, parser, launcher).run()
    assert launcher.launched == [] and counts["done"] == 0
    rows = {(r["student_dim"], r["method"]): r for r in rows_of(fresh)}
    assert all(r["status"] == "done" for r in rows.values())
    assert rows[(8, "DS")]["mrr"] == before[(8, "DS")]["mrr"] == 0.5 and rows[(8, "DS")]["params"] == 80
    assert len(read_csv(fresh.output_dir / "results.csv")) == len(fresh.cells)  # the report keeps them
    assert "| 8 | DS | 0.500 |" in (fresh.output_dir / "results.md").read_text()
    # and their curves: the rows carry them, so the plots still show every method
    assert rows[(8, "DS")]["valid_curve"] == before[(8, "DS")]["valid_curve"] == "1:0.1 2:0.2 3:0.1 4:0.2"
    assert set(method_curves(fresh, "tiny", "ComplEx", 16, 8)) == {"no-DS", "DS", "-S1", "-S2"}

    # One cell's row is missing: only its jobs run, its teacher among them (its folder is gone too).
    lines = committed.read_text().splitlines()
    dropped = [l for l in lines if ",8,DS," not in l]
    assert len(dropped) == len(lines) - 1
    committed.write_text("\n".join(dropped) + "\n")
    shutil.rmtree(fresh.output_dir)
    again = load_experiment(config)
    again.kept_rows = read_kept_rows(committed)
    launcher = FakeLauncher()
    runner(again, parser, launcher).run()
    ran = sorted(Path(a[a.index("--run_dir") + 1]).name.rsplit("-", 1)[0] for a in launcher.launched)
    assert ran == ["pretrain-tiny-ComplEx-16", "stage1-tiny-ComplEx-8", "stage2-tiny-ComplEx-8"]
    assert all(r["status"] == "done" for r in rows_of(again))

    # A changed stage-2 setting changes the stage-2 job ids: those rows are not trusted any more.
    models = {"ComplEx": {"flags": {"lr": 0.01, "margin": 6.0}, "stage2": {"lr": 0.002}}}
    changed = load_experiment(write_config(tmp_path, small_graph, models=models))
    changed.kept_rows = read_kept_rows(committed)
    active = [c.method for c in changed.cells if kept_row(changed, c) is None]
    assert sorted(active) == ["DS", "DS"]  # DS 8 was dropped anyway; -S1 has stage 1's settings


def test_kept_rows_serve_another_cell_made_by_the_same_jobs(tmp_path, small_graph, parser):
    """A teacher row of one grid is the no-DS row of a grid whose student has the teacher's dimension (the
    same pretraining job): --keep_rows reuses it there instead of retraining it."""
    first = load_experiment(write_config(tmp_path, small_graph))
    runner(first, parser, FakeLauncher()).run()
    committed = tmp_path / "committed.csv"
    shutil.copy(first.output_dir / "results.csv", committed)
    teacher = next(r for r in rows_of(first) if r["method"] == "teacher")
    shutil.rmtree(first.output_dir)

    grid = [{"dataset": "tiny", "model": "ComplEx", "teacher_dim": 32, "student_dim": 16, "method": ["no-DS"]}]
    second = load_experiment(write_config(tmp_path, small_graph, grid=grid))
    second.kept_rows = read_kept_rows(committed)
    launcher = FakeLauncher()
    runner(second, parser, launcher).run()
    assert launcher.launched == []  # the 16-dim pretraining job is the first grid's teacher job
    (row,) = rows_of(second)
    assert (row["teacher_dim"], row["student_dim"], row["method"], row["status"]) == (32, 16, "no-DS", "done")
    assert row["mrr"] == teacher["mrr"] and row["job_id"] == teacher["job_id"]


def test_keep_rows_refuses_a_file_that_is_not_a_results_csv(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not a results.csv"):
        read_kept_rows(tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="cannot read it"):
        read_kept_rows(tmp_path / "missing.csv")


def test_wall_clock_budgets_for_students_are_warned_about(tmp_path, small_graph, capsys):
    phases = {"pretrain": {"loss_name": "Adv_Loss", "max_epochs": 2},
              "stage1": {"loss_name": "DualDE_Loss", "max_epochs": 2, "max_time": "00:00:01:00"},
              "stage2": {"loss_name": "DualDE_Loss", "max_epochs": 1}}
    load_experiment(write_config(tmp_path, small_graph, phases=phases))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_time is set for 4 student job(s) (stage1, stage2)" in err
    # a teacher's wall-clock budget is no comparison between methods: no warning
    models = {"ComplEx": {"flags": {"lr": 0.01}, "teacher": {"max_time": "00:00:01:00"}}}
    load_experiment(write_config(tmp_path, small_graph, models=models))
    assert capsys.readouterr().err == ""


def test_iterde_cells_chain_halving_links_each_from_the_one_before(tmp_path, small_graph, parser):
    from neuralkg_distil.methods.iterde import chain_dims

    assert chain_dims(64, 8) == [32, 16, 8] and chain_dims(64, 24) == [32, 24] and chain_dims(16, 8) == [8]
    with pytest.raises(ConfigError, match="IterDE needs a student smaller"):
        chain_dims(8, 8)
    grid = [{"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": 4,
             "method": ["teacher", "no-DS", "IterDE"]}]
    exp = load_experiment(write_config(tmp_path, small_graph, grid=grid))
    jobs = exp.jobs_for(Cell("tiny", "ComplEx", 16, 4, "IterDE"))
    assert [jobs[k].dim for k in ("teacher", "link1", "link2")] == [16, 8, 4] and jobs["result"] is jobs["link2"]
    argv = command_for(exp, jobs["link2"], parser)
    assert argv[argv.index("--teacher_ckpt") + 1] == str(stage_dir(exp, jobs["link1"]) / "best.ckpt")
    assert argv[argv.index("--soft_weight_schedule") + 1] == "power"  # the growing soft weight by default
    launcher = FakeLauncher()
    counts = runner(exp, parser, launcher).run()
    assert counts["failed"] == 0 and counts["done"] == 4  # teacher, no-DS, two links
    rows = {r["method"]: r for r in rows_of(exp)}
    assert rows["IterDE"]["status"] == "done" and rows["IterDE"]["total_wall_time_s"] == 3.0  # both links, teacher apart
    report = (exp.output_dir / "results.md").read_text()
    assert "IterDE" in report and "## IterDE chain: tiny ComplEx 16 -> 4" in report
    assert "| 2 | 4 | 0.500 | 0.700 | 0.500 | 2 | 1.500 |" in report and "The links' training time: 3 s" in report
    with (exp.output_dir / "chains.csv").open() as handle:
        chain = list(csv.DictReader(handle))
    assert [(r["link"], r["dim"], r["status"]) for r in chain] == [("0", "16", "done"), ("1", "8", "done"), ("2", "4", "done")]
    assert (exp.output_dir / "plots" / "tiny_ComplEx_T16_S4_chain.png").stat().st_size > 1000


def mulde_grid(**arm):
    return {"grid": [{"dataset": "tiny", "model": ["ComplEx", "RotatE"], "teacher_dim": 16, "student_dim": 16,
                      "method": "teacher"},
                     {"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": 8,
                      "method": ["no-DS", "MulDE"]}],
            "arms": {"MulDE": {"teachers": ["ComplEx", "RotatE"], "flags": {"mulde_topk": 10}, **arm}}}


def test_mulde_cells_share_the_teacher_cells_jobs_and_pass_every_checkpoint(tmp_path, small_graph, parser):
    exp = load_experiment(write_config(tmp_path, small_graph, **mulde_grid()))
    jobs = exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "MulDE"))
    teachers = [exp.jobs_for(Cell("tiny", m, 16, 16, "teacher"))["result"] for m in ("ComplEx", "RotatE")]
    assert [jobs["teacher"].job_id, jobs["teacher2"].job_id] == [t.job_id for t in teachers]
    assert set(exp.teacher_jobs()) == {t.job_id for t in teachers}
    argv = command_for(exp, jobs["result"], parser)
    assert argv[argv.index("--teacher_ckpt") + 1] == ",".join(str(stage_dir(exp, t) / "best.ckpt") for t in teachers)
    assert argv[argv.index("--teacher_model") + 1] == "ComplEx,RotatE"
    assert argv[argv.index("--loss_name") + 1] == "MulDE_Loss" and argv[argv.index("--mulde_topk") + 1] == "10"
    assert len(exp.all_jobs()) == 4  # two teachers, no-DS, the junior
    counts = runner(exp, parser, FakeLauncher()).run()
    assert counts["done"] == 4 and counts["failed"] == 0
    rows = {r["method"]: r for r in rows_of(exp) if r["student_dim"] == 8}
    assert rows["MulDE"]["status"] == "done" and rows["MulDE"]["total_wall_time_s"] == 1.5  # teachers apart
    assert "| 8 | MulDE |" in (exp.output_dir / "results.md").read_text()


@pytest.mark.parametrize("change, message", [
    ({"teachers": []}, "arms.MulDE.teachers must be a non-empty list"),
    ({"teachers": ["ComplEx", "ComplEx"]}, "lists a model twice"),
    ({"flags": {"teacher_ckpt": "x.ckpt"}}, "arms.MulDE.flags: teacher_ckpt is set by the runner"),
])
def test_bad_mulde_arm_options_are_one_line_errors(tmp_path, small_graph, change, message):
    with pytest.raises(ConfigError, match=message):
        exp = load_experiment(write_config(tmp_path, small_graph, **mulde_grid(**change)))
        exp.all_jobs()


def test_unknown_arm_in_the_arms_section_is_named(tmp_path, small_graph):
    with pytest.raises(ConfigError, match="arms: unknown method 'MulDee'"):
        load_experiment(write_config(tmp_path, small_graph, arms={"MulDee": {}}))


def test_real_mulde_run_on_a_generated_graph(tmp_path, small_graph):
    config = write_config(tmp_path, small_graph, **mulde_grid())
    cmd = [sys.executable, "-m", "neuralkg_distil.cli.main", "experiment", "--config", str(config), "--jobs", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = {(r["student_dim"], r["method"], r["model"]): r for r in json.loads((tmp_path / "out" / "results.json").read_text())["rows"]}
    mulde = rows[(8, "MulDE", "ComplEx")]
    assert mulde["status"] == "done" and 0.0 < mulde["mrr"] <= 1.0 and mulde["epochs"] == 2
    exp = load_experiment(config)
    results = json.loads((stage_dir(exp, exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "MulDE"))["result"]) / "results.json").read_text())
    assert {"model", "teacher", "teacher2"} <= set(results["models"])


def test_mulde_rows_report_the_soft_weight_mulde_trains_with(tmp_path, small_graph, parser):
    from neuralkg_distil.experiment.report import protocol_columns

    exp = load_experiment(write_config(tmp_path, small_graph, **mulde_grid(flags={"mulde_soft_weight": 0.01})))
    columns = protocol_columns(exp.jobs_for(Cell("tiny", "ComplEx", 16, 8, "MulDE"))["result"], None)
    assert columns["alpha"] == 0.01  # not DistilE's alpha of the stage-1 flags


def test_arm_flags_apply_to_that_arm_only(tmp_path, small_graph, parser):
    grid = [{"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": 4, "method": ["-S2", "IterDE"]}]
    phases = {"pretrain": {"loss_name": "Adv_Loss"}, "stage1": {"loss_name": "DistilE_Loss", "soft_weight_schedule": "anneal"}}
    exp = load_experiment(write_config(tmp_path, small_graph, grid=grid, phases=phases,
                                       arms={"IterDE": {"flags": {"soft_weight_schedule": "linear"}}}))
    chain = exp.jobs_for(Cell("tiny", "ComplEx", 16, 4, "IterDE"))
    assert {chain[k].flags["soft_weight_schedule"] for k in ("link1", "link2")} == {"linear"}
    assert exp.jobs_for(Cell("tiny", "ComplEx", 16, 4, "-S2"))["result"].flags["soft_weight_schedule"] == "anneal"
