"""--resume continues an interrupted run from last.ckpt; --student_init random starts stage 2 from scratch."""
from __future__ import annotations

import json

import torch

from neuralkg_distil.cli.main import main

from conftest import cli_flags


def test_resume_continues_from_last_checkpoint(small_graph, tmp_path, capsys):
    run_dir = tmp_path / "run"
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel",
                      "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.01", "--run_dir", str(run_dir))
    assert main(flags + ["--max_epochs", "2"]) == 0
    stage = run_dir / "pretrain"
    # an interrupted run: checkpoints written, no results yet
    (stage / "results.json").unlink()
    before = torch.load(stage / "last.ckpt", weights_only=True)["epoch"]
    capsys.readouterr()
    assert main(flags + ["--max_epochs", "4", "--resume"]) == 0
    out, err = capsys.readouterr()
    assert f"resuming from {stage / 'last.ckpt'}" in out
    assert "warning: resuming with flags" not in err  # more epochs is what resuming is for
    after = torch.load(stage / "last.ckpt", weights_only=True)
    assert after["epoch"] > before and after["global_step"] > 0
    assert json.loads((stage / "results.json").read_text())["epochs"] == 4

    # a finished run is not resumed, and --resume with --overwrite is refused
    assert main(flags + ["--max_epochs", "4", "--resume"]) == 2
    assert "finished run" in capsys.readouterr().err
    assert main(flags + ["--max_epochs", "4", "--resume", "--overwrite"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_stage2_from_a_random_student(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--lr", "0.01", "--max_epochs", "2")
    teacher_run = tmp_path / "teacher"
    assert main(flags + ["--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss", "--emb_dim", "16",
                         "--run_dir", str(teacher_run)]) == 0
    distil = flags + ["--litmodel_name", "KGDistillLitModel", "--loss_name", "DualDE_Loss", "--emb_dim", "4",
                      "--stage", "2", "--student_init", "random", "--run_dir", str(tmp_path / "s1less")]
    assert main(distil) == 2  # no teacher given: one-line error
    assert "--student_init random needs a teacher" in capsys.readouterr().err
    assert main(distil + ["--teacher_ckpt", str(teacher_run / "pretrain" / "best.ckpt")]) == 0
    saved = json.loads((tmp_path / "s1less" / "stage2" / "results.json").read_text())
    assert saved["stage"] == 2 and saved["models"]["model"]["emb_dim"] == 4 and saved["models"]["teacher"]["emb_dim"] == 16
    assert not (tmp_path / "s1less" / "stage1").exists()


def test_resume_with_other_flags_warns(small_graph, tmp_path, capsys):
    run_dir = tmp_path / "run"
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel",
                      "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.01", "--run_dir", str(run_dir))
    assert main(flags + ["--max_epochs", "2"]) == 0
    (run_dir / "pretrain" / "results.json").unlink()
    capsys.readouterr()
    assert main(flags + ["--max_epochs", "4", "--resume", "--num_neg", "4", "--seed", "8"]) == 0
    err = capsys.readouterr().err
    assert ("neuralkg-distil: warning: resuming with flags other than the interrupted run's (--num_neg 8 -> 4, "
            "--seed 7 -> 8): the result will differ from an uninterrupted run") in err
