"""neuralkg-distil sweep: wandb sweep files run locally (expansion, sampling, duplicates, a real
sweep run twice, bad input)."""
from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import List

import pytest
import yaml

from neuralkg_distil.cli.main import main as cli_main
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.sweep import plan as plan_module
from neuralkg_distil.sweep import runner as runner_module
from neuralkg_distil.sweep.config import load_sweep
from neuralkg_distil.sweep.plan import plan_runs, training_parser
from neuralkg_distil.sweep.space import grid_points, random_points

from conftest import REPO, cli_flags


@pytest.fixture(scope="module")
def parser():
    return training_parser()


def write(tmp_path: Path, data, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


DISTIL = {"litmodel_name": {"value": "KGDistillLitModel"}, "loss_name": {"value": "DualDE_Loss"},
          "teacher_ckpt": {"value": "t.ckpt"}, "data_path": {"value": "dataset/tiny"}}


def test_grid_crossing_alpha_with_learned_weights_trains_each_effective_run_once(tmp_path, parser):
    # the case: 4 lr x 3 alpha x {fixed, adaptive} = 24 points, adaptive ignores alpha
    sweep = {"method": "grid", "metric": {"name": "Eval|mrr", "goal": "maximize"}, "parameters": {
        **DISTIL, "lr": {"values": [0.0005, 0.005, 0.01, 0.05]}, "alpha": {"values": [0.3, 0.5, 0.7]},
        "soft_weighting": {"values": ["fixed", "adaptive"]}}}
    config = load_sweep(write(tmp_path, sweep))
    assert len(grid_points(config)) == 24
    runs = plan_runs(config, parser=parser)
    assert len(runs) == 16 and sum(len(r.duplicates) for r in runs) == 8
    learned = [r for r in runs if r.point["soft_weighting"] == "adaptive"]
    assert len(learned) == 4 and all(r.unused == ["alpha"] and len(r.duplicates) == 2 for r in learned)
    assert len({r.run_id for r in runs}) == 16
    # ids are stable: the same file planned again gives the same ids; --count keeps the first N
    assert [r.run_id for r in plan_runs(config, count=5, parser=parser)] == [r.run_id for r in runs[:5]]


def test_discrete_ranges_expand_on_a_grid(tmp_path, parser):
    config = load_sweep(write(tmp_path, {"method": "grid", "parameters": {
        "num_neg": {"distribution": "int_uniform", "min": 2, "max": 4}, "lr": {"distribution": "q_uniform", "min": 0.1, "max": 0.3, "q": 0.1}}}))
    assert [(p["num_neg"], p["lr"]) for p in grid_points(config)] == [(n, lr) for n in (2, 3, 4) for lr in (0.1, 0.2, 0.3)]
    # a flag's values are checked by the flag's own type: --calc_hits takes "1,10", not a list
    listed = load_sweep(write(tmp_path, {"method": "grid", "parameters": {"calc_hits": {"values": ["1,10", "1,3,10"]}}}, "l.yaml"))
    assert len(plan_runs(listed, parser=parser)) == 2
    with pytest.raises(ConfigError, match=r"parameters.calc_hits: value \[1, 10\] is not a valid --calc_hits"):
        plan_runs(load_sweep(write(tmp_path, {"method": "grid", "parameters": {"calc_hits": {"value": [1, 10]}}}, "b.yaml")), parser=parser)


def test_random_sweep_is_seeded_distinct_and_dedups(tmp_path, parser):
    sweep = {"method": "random", "run_cap": 4, "parameters": {
        "data_path": {"value": "dataset/tiny"},
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "num_neg": {"distribution": "int_uniform", "min": 2, "max": 64},
        "emb_dim": {"distribution": "q_uniform", "min": 8, "max": 64, "q": 8},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "optim_name": {"distribution": "categorical", "values": ["Adam", "Adagrad"]}}}
    config = load_sweep(write(tmp_path, sweep))
    first = plan_runs(config, seed=1, parser=parser)
    assert [r.point for r in first] == [r.point for r in plan_runs(config, seed=1, parser=parser)]
    assert [r.point for r in first] != [r.point for r in plan_runs(config, seed=2, parser=parser)]
    assert len(first) == 4 and len({r.run_id for r in first}) == 4
    for point in (r.point for r in first):
        assert 1e-4 <= point["lr"] <= 1e-1 and 2 <= point["num_neg"] <= 64 and point["emb_dim"] % 8 == 0
    # a random sweep whose only varying flag is ignored has one distinct run, however many draws
    learned = {"method": "random", "parameters": {**DISTIL, "soft_weighting": {"value": "calibrated"},
                                                  "alpha": {"distribution": "uniform", "min": 0.1, "max": 0.9}}}
    runs = plan_runs(load_sweep(write(tmp_path, learned, "learned.yaml")), count=2, seed=0, parser=parser)
    assert len(runs) == 1 and len(runs[0].duplicates) == 2 * plan_module.MAX_DRAWS_PER_RUN - 1


def test_shipped_sweep_files_have_no_duplicates_and_stay_wandb_shaped(parser):
    for path in sorted((REPO / "scripts" / "sweeps").glob("*.yaml")):
        config = load_sweep(path)
        runs = plan_runs(config, parser=parser)
        assert not any(r.duplicates for r in runs), path
        assert not any(r.unused for r in runs), path


def _in_process(argv: List[str], log: Path) -> int:
    """The launcher's training, in this process (the subprocess only adds 20 s of imports here)."""
    with log.open("a") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        return cli_main(argv)


def _tiny_sweep(tmp_path: Path, graph: Path) -> Path:
    flags = cli_flags(graph, tmp_path / "unused", "--model_name", "DistMult", "--emb_dim", "8", "--max_epochs", "2",
                      "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss")
    command = ["${env}", "${interpreter}", "${program}", "--use_wandb", *flags, "${args}"]
    return write(tmp_path, {"program": "main.py", "method": "grid", "metric": {"name": "Eval|mrr", "goal": "maximize"},
                            "parameters": {"lr": {"values": [0.01, 0.05]}, "alpha": {"values": [0.3, 0.7]}},
                            "command": command})


def test_a_real_sweep_writes_its_table_and_a_second_call_skips_it(tmp_path, small_graph, monkeypatch, capsys):
    monkeypatch.setattr(runner_module, "launch", _in_process)
    monkeypatch.setattr(runner_module.run_one, "__defaults__", (_in_process,))
    path, out = _tiny_sweep(tmp_path, small_graph), tmp_path / "sweep-out"
    assert cli_main(["sweep", "--config", str(path), "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    # pretraining ignores alpha: 4 points, 2 runs
    assert "4 points, 2 distinct runs (2 duplicate(s) trained once)" in printed and printed.count("] done") == 2
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2"] and rows[0]["Eval|mrr"] >= rows[1]["Eval|mrr"]
    assert {r["lr"] for r in rows} == {"0.01", "0.05"} and all(r["duplicates"] for r in rows)
    assert "| rank | run_id |" in (out / "results.md").read_text()
    state = json.loads((out / "sweep.json").read_text())
    assert [r["status"] for r in state["runs"]] == ["done", "done"]
    assert cli_main(["sweep", "--config", str(path), "--output_dir", str(out)]) == 0
    again = capsys.readouterr().out
    assert again.count("] skipped") == 2 and "] done" not in again
    # a run killed after its checkpoint is resumed, one killed before it is redone
    stage = out / "runs" / rows[0]["run_id"] / "pretrain"
    (stage / "results.json").unlink()
    assert runner_module.restart_flags(stage.parent) == ["--resume"]
    assert cli_main(["sweep", "--config", str(path), "--output_dir", str(out)]) == 0
    assert capsys.readouterr().out.count("] resumed") == 1


BAD = [
    ({"method": "bayes", "parameters": {"lr": {"value": 0.1}}}, "method: bayes needs wandb's sweep server"),
    ({"method": "grdi", "parameters": {"lr": {"value": 0.1}}}, "did you mean grid?"),
    ({"method": "grid", "paramters": {}}, "paramters: unknown key"),
    ({"method": "grid", "parameters": {"lrr": {"value": 0.1}}}, "parameters.lrr: not a training flag; did you mean lr?"),
    ({"method": "grid", "parameters": {"lr": {"value": "fast"}}}, "parameters.lr: value 'fast' is not a valid --lr"),
    ({"method": "grid", "parameters": {"soft_weighting": {"value": "adaptiv"}}}, "did you mean adaptive?"),
    ({"method": "grid", "parameters": {"lr": {"distribution": "normal", "mu": 0, "sigma": 1}}}, "'normal' is not supported locally"),
    ({"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 0.5}}}, "method grid needs values or a discrete distribution"),
    ({"method": "random", "parameters": {"lr": {"min": 0.5, "max": 0.1}}}, "parameters.lr: min 0.5 is above max 0.1"),
    ({"method": "random", "parameters": {"lr": {"min": 0.1, "max": 0.5}}}, "give --count N or a run_cap key"),
    ({"method": "grid", "metric": {"name": "loss"}, "parameters": {"lr": {"value": 0.1}}}, "metric.name: unknown metric 'loss'"),
    ({"method": "grid", "program": "train.py", "parameters": {"lr": {"value": 0.1}}}, "runs neuralkg-distil trainings only"),
    ("method: grid\nparameters: [\n", "not valid YAML"),
]


@pytest.mark.parametrize("sweep, message", BAD, ids=[m.split(":")[0][:30] for _, m in BAD])
def test_bad_sweep_files_are_one_line_errors(tmp_path, sweep, message, capsys):
    path = write(tmp_path, sweep)
    assert cli_main(["sweep", "--config", str(path), "--dry_run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"neuralkg-distil: error: {path}") and message in err and "\n" not in err, err


def test_missing_sweep_file_is_one_line(tmp_path, capsys):
    assert cli_main(["sweep", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.slow  # a real process: run by make test and CI
def test_the_default_launcher_trains_in_a_subprocess(tmp_path, small_graph):
    path, out = _tiny_sweep(tmp_path, small_graph), tmp_path / "sweep-out"
    config = load_sweep(path)
    run = plan_runs(config, count=1)[0]
    outcome = runner_module.run_one(out, run)
    assert outcome.status == "done", (out / "runs" / run.run_id / "log.txt").read_text()[-2000:]
    assert runner_module.run_one(out, run).status == "skipped"


def test_sigterm_stops_a_sweep_like_ctrl_c(monkeypatch, tmp_path: Path):
    import os
    import signal

    import neuralkg_distil.sweep.cli as sweep_cli

    def terminated(output_dir, run):  # the sweep gets SIGTERM while a training runs
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the sweep")

    monkeypatch.setattr(sweep_cli, "run_one", terminated)
    monkeypatch.setattr(sweep_cli, "varying", lambda config, runs: [])
    with pytest.raises(KeyboardInterrupt):
        sweep_cli.run_sweep(None, ["a run"], tmp_path, seed=0)  # type: ignore[arg-type]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
