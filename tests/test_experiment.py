"""The experiment runner: grid expansion, job sharing and hashing, skipping finished jobs,
resuming interrupted ones, the reports, and one real run on a generated graph."""
from __future__ import annotations

import json
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
from neuralkg_distil.experiment.report import rows_of
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
    from neuralkg_distil.cli import build_parser

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

    def __init__(self, fail=(), hang=()):
        self.fail, self.hang = fail, hang
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
            results = {"epochs": 2, "wall_time_s": 1.5, "models": {"model": model, "teacher": model}}
            (folder / "results.json").write_text(json.dumps(results))
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
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
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


def test_real_run_on_a_generated_graph_then_skip(tmp_path, small_graph):
    config = write_config(tmp_path, small_graph, grid=[
        {"dataset": "tiny", "model": "ComplEx", "teacher_dim": 16, "student_dim": 8,
         "method": ["teacher", "no-DS", "DS", "-S1", "-S2"]}])
    cmd = [sys.executable, "-m", "neuralkg_distil.cli", "experiment", "--config", str(config), "--jobs", "2"]
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
