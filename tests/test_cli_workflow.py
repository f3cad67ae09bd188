"""Issue 15: quiet, clear output and a command line that helps (help, suggestions, config files, warnings)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuralkg_distil.cli.main import main
from neuralkg_distil.cli.parser import parse_args
from neuralkg_distil.cli.flag_help import unrecognized_message
from neuralkg_distil.cli.help_cache import cached_help, live_help
from neuralkg_distil.callbacks.progress import stale_message

from conftest import REPO, cli_flags

PRETRAIN = ["--litmodel_name", "PretrainLitModel", "--model_name", "ComplEx", "--loss_name", "Adv_Loss", "--lr", "0.01"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _errors(err: str) -> list:
    return [line for line in err.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ help
def test_cached_help_is_current():
    # Stale after a change to the flags: python -m neuralkg_distil.cli.help_cache --write
    assert cached_help() == live_help(), "neuralkg_distil/help.txt is stale: run python -m neuralkg_distil.cli.help_cache --write"


def test_help_prints_the_cached_copy_and_falls_back_when_it_is_stale(tmp_path, monkeypatch, capsys):
    from neuralkg_distil.cli import help_cache as flag_help

    assert main(["--help"]) == 0
    assert capsys.readouterr().out == live_help()
    stale = tmp_path / "help.txt"
    stale.write_text("# key 0000\nold help\n")
    monkeypatch.setattr(flag_help, "HELP_FILE", stale)
    with pytest.raises(SystemExit) as exc:  # argparse's own --help, from the live parser
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "old help" not in out and "Distillation Args" in out


def test_help_shows_defaults_fixed_strings_and_sub_commands_first():
    text = live_help()
    assert text.index("sub-commands:") < text.index("  fetch-data  ") < text.index("Distillation Args") < text.index("Lightning Trainer")
    data_path = text[text.index("--data_path PATH"):].split("\n  --", 1)[0]
    assert "Dataset folder" in data_path and "Number of additional processes" not in data_path
    assert "(default: ./dataset/WN18RR)" in " ".join(data_path.split())
    alpha = " ".join(text[text.index("--alpha X"):].split("\n  --", 1)[0].split())
    assert "(default: 0.5)" in alpha
    assert "Number of examples to operate on per forward step" not in text  # NeuralKG's copied batch-size help
    assert len(text.splitlines()) < 320


@pytest.mark.parametrize("argv", [["--help"], ["fetch-data", "--help"]])
@pytest.mark.slow  # a real process: run by make test and CI
def test_help_does_not_import_torch(argv):
    proc = subprocess.run([sys.executable, "-X", "importtime", "main.py", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "pytorch_lightning", "neuralkg", "lightning_fabric"} & imported
    assert "usage:" in proc.stdout and "Warning" not in proc.stderr.replace("import time:", "")


@pytest.mark.slow  # a real process: run by make test and CI
def test_import_is_lazy_but_registration_still_happens():
    code = (
        "import sys, neuralkg_distil\n"
        "assert 'torch' not in sys.modules\n"
        "from neuralkg_distil.training.distill_system import KGDistillLitModel\n"  # neuralkg imported from inside one of ours
        "from neuralkg.utils.tools import import_class\n"
        "assert import_class('neuralkg.lit_model.KGDistillLitModel') is KGDistillLitModel\n"
        "assert import_class('neuralkg.loss.DualDE_Loss').__name__ == 'DualDE_Loss'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


# ------------------------------------------------------------------------------------------------ errors
def test_misspelt_flag_is_one_line_with_a_suggestion(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--lrr", "0.1"])
    assert exc.value.code == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and "unknown flag --lrr; did you mean --lr?" in err[0], err


def test_misspelt_sub_command_is_suggested():
    from neuralkg_distil.cli.parser import build_parser

    assert "did you mean fetch-data?" in unrecognized_message(["fetch_data"], build_parser())


@pytest.mark.parametrize("flags, expected", [
    (["--loss_name", "Adv_Los"], "did you mean Adv_Loss?"),
    (["--model_name", "RotateE"], "did you mean RotatE?"),
    (["--train_sampler_class", "TorchUniSampeler"], "did you mean TorchUniSampler?"),
])
def test_class_names_get_a_suggestion(flags, expected, small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, *flags)
    assert main(argv) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and expected in err[0], err


def test_model_and_loss_names_are_case_insensitive():
    args = parse_args(["--model_name", "complex", "--loss_name", "adv_loss", "--teacher_model", "transe"])
    assert (args.model_name, args.loss_name, args.teacher_model) == ("ComplEx", "Adv_Loss", "TransE")


# ------------------------------------------------------------------------------------------------ config files
def test_load_config_reads_yaml_and_command_line_wins(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model_name: complex\nemb_dim: 12\nlr: 1e-3\nnum_neg: 4\ncalc_hits: [1, 5]\n")
    args = parse_args(["--load_config", "--config_path", str(cfg), "--num_neg", "9"])
    assert (args.model_name, args.emb_dim, args.lr, args.num_neg, args.calc_hits) == ("ComplEx", 12, 1e-3, 9, [1, 5])
    assert {"emb_dim", "lr", "num_neg"} <= args._explicit


def test_load_config_beats_a_preset(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("num_neg: 3\n")
    args = parse_args(["--preset", "WN18RR/TransE", "--model_name", "TransE", "--load_config", "--config_path", str(cfg)])
    baseline = parse_args(["--preset", "WN18RR/TransE", "--model_name", "TransE"])
    assert args.num_neg == 3 and baseline.num_neg != 3 and args.lr == baseline.lr


def test_save_config_writes_what_load_config_reads(small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "2", "--save_config")
    assert main(argv) == 0
    saved = tmp_path / small_graph.name / "ComplEx_8" / "pretrain" / "config.yaml"
    assert f"--config_path {saved}" in capsys.readouterr().out
    again = parse_args(["--load_config", "--config_path", str(saved)])
    first = parse_args(argv)
    for key in ("data_path", "model_name", "emb_dim", "lr", "num_neg", "train_sampler_class", "litmodel_name", "seed"):
        assert getattr(again, key) == getattr(first, key), key


@pytest.mark.parametrize("content, expected", [
    ("emb_dimm: 4\n", "cfg.yaml: unknown key 'emb_dimm'; did you mean 'emb_dim'?"),
    ("- 1\n- 2\n", "cfg.yaml: expected a mapping of flag names to values"),
    ("a: [\n", "cfg.yaml:"),
])
def test_bad_config_file_is_one_line(content, expected, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(content)
    assert main(["--load_config", "--config_path", str(cfg)]) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("neuralkg-distil: error: ") and expected in err[0], err


def test_dataset_name_alone_selects_its_folder():
    assert parse_args(["--dataset_name", "WN18RR"]).data_path == str(Path("dataset") / "WN18RR")
    assert parse_args(["--dataset_name", "WN18RR", "--data_path", "elsewhere/x"]).data_path == "elsewhere/x"
    assert parse_args([]).data_path == "./dataset/WN18RR"  # NeuralKG's default, unchanged


# ------------------------------------------------------------------------------------------------ output and warnings
def test_training_prints_one_line_per_validation(small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "4", "--model_name", "complex")
    argv.remove("--enable_progress_bar")
    argv.remove("false")  # not given: no bar, since stdout is not a terminal here
    assert main(argv) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0] == "pretrain ComplEx 8: up to 4 epochs, validating every 2"
    assert [line.split("  ")[0] for line in lines[1:3]] == ["epoch 2/4", "epoch 4/4"]
    assert "train loss" in lines[1] and "valid MRR" in lines[1] and lines[1].endswith(" s")
    assert "v_num" not in out and "ranking" not in out + err and len(lines) < 12
    assert err.strip() == ""
    assert (tmp_path / small_graph.name / "ComplEx_8" / "pretrain" / "results.json").is_file()  # canonical name


@pytest.mark.slow  # a real process: run by make test and CI
def test_real_process_output_is_short_and_verbose_brings_banners_back(small_graph, tmp_path):
    def run(*extra):
        argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "2", "--overwrite", *extra)
        argv.remove("--enable_progress_bar")
        argv.remove("false")
        return subprocess.run([sys.executable, "main.py", *argv], cwd=REPO, capture_output=True, text=True,
                              timeout=300, env=ENV)

    quiet = run()
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr.strip() == "", quiet.stderr
    assert len(quiet.stdout.splitlines()) < 12 and "v_num" not in quiet.stdout and "\r" not in quiet.stdout
    verbose = run("--verbose")
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    assert "GPU available" in verbose.stdout + verbose.stderr


def test_no_validation_before_the_last_epoch_warns(small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "1", "--check_per_epoch", "2")
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "neuralkg-distil: warning: --max_epochs 1 is below --check_per_epoch 2: the run never validates" in err
    assert "no best.ckpt" in err


def test_unchanged_validation_metrics_warn(small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "4", "--lr", "1e-12")
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and "validation metrics did not change from epoch 2 to 4" in err[0], err
    assert "--lr 1e-12 may be too small" in err[0]


def test_stale_message_needs_two_equal_validations():
    assert stale_message([{"epoch": 2, "Eval|mrr": 0.3}], "x") is None
    assert stale_message([{"epoch": 2, "Eval|mrr": 0.3}, {"epoch": 4, "Eval|mrr": 0.31}], "x") is None
    assert "epoch 2 to 6" in stale_message([{"epoch": 2, "Eval|mrr": 0.3}, {"epoch": 6, "Eval|mrr": 0.3}], "x")


@pytest.fixture(scope="module")
def teacher(small_graph, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    assert main(cli_flags(small_graph, out, *PRETRAIN, "--emb_dim", "16", "--max_epochs", "2")) == 0
    return out / small_graph.name / "ComplEx_16" / "pretrain" / "best.ckpt"


@pytest.mark.parametrize("loss, weighting, warned", [
    ("DualDE_Loss", [], True),  # calibrated by default
    ("DualDE_Loss", ["--soft_weighting", "adaptive"], True),
    ("DualDE_Loss", ["--soft_weighting", "fixed"], False),
    ("DistilE_Loss", [], False),
])
def test_alpha_with_a_learned_weighting_warns(loss, weighting, warned, teacher, small_graph, tmp_path, capsys):
    argv = cli_flags(small_graph, tmp_path, "--litmodel_name", "KGDistillLitModel", "--model_name", "ComplEx",
                     "--loss_name", loss, "--emb_dim", "8", "--teacher_ckpt", str(teacher), "--alpha", "0.7",
                     "--max_epochs", "2", *weighting)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("--alpha is not used" in err) == warned, err


# ------------------------------------------------------------------------------------------------ wandb (offline)
def test_wandb_gets_the_results_and_metrics_csv_is_kept(small_graph, tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    from neuralkg_distil.run import results as reporting

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    seen = {}
    real = reporting.log_to_wandb

    def spy(logger, results):  # the real call, then what the live run's summary holds
        real(logger, results)
        seen.update(dict(logger.experiment.summary))

    monkeypatch.setattr(reporting, "log_to_wandb", spy)
    run_dir = tmp_path / "run"
    argv = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "2", "--use_wandb",
                     "--run_dir", str(run_dir))
    assert main(argv) == 0
    assert (run_dir / "logs" / "pretrain" / "metrics.csv").is_file()  # CSVLogger beside the WandbLogger
    assert list(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    results = json.loads((run_dir / "pretrain" / "results.json").read_text())
    assert seen["params/model"] == results["models"]["model"]["params"]
    assert seen["test/model/mrr"] == pytest.approx(results["models"]["model"]["test"]["mrr"])
    assert seen["valid/model/hits@10"] == pytest.approx(results["models"]["model"]["valid"]["hits@10"])


def test_wandb_log_model_logs_the_checkpoints_as_an_artifact(small_graph, tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    logged = []
    real = wandb.sdk.wandb_run.Run.log_artifact

    def spy(run, artifact, *args, **kwargs):
        logged.append((artifact.type, sorted(artifact.manifest.entries)))
        return real(run, artifact, *args, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log_artifact", spy)
    base = cli_flags(small_graph, tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "2", "--use_wandb")
    assert main(base + ["--run_dir", str(tmp_path / "plain")]) == 0
    models = lambda: [entries for kind, entries in logged if kind == "model"]  # noqa: E731 (the table is a run_table)
    assert models() == []  # not without the flag
    assert main(base + ["--run_dir", str(tmp_path / "logged"), "--wandb_log_model"]) == 0
    assert any(entry.endswith(".ckpt") for entries in models() for entry in entries), logged


def test_wandb_summary_names_student_and_teacher():
    results = {"kind": "distil", "epochs": 3, "wall_time_s": 1.0, "models": {
        "model": {"emb_dim": 8, "params": 10, "test": {"mrr": 0.5}, "valid": {"mrr": 0.4}},
        "teacher": {"emb_dim": 64, "params": 80, "test": {"mrr": 0.9}, "valid": {"mrr": 0.8}}}}
    summary = reporting_summary(results)
    assert summary["params/student"] == 10 and summary["params/teacher"] == 80
    assert summary["test/student/mrr"] == 0.5 and summary["valid/teacher/mrr"] == 0.8


def reporting_summary(results):
    from neuralkg_distil.run.results import wandb_summary

    return wandb_summary(results)
