"""--init_ckpt: a pretraining that starts from another run's weights (the no-DS + fine-tuning control)."""
from __future__ import annotations

from pathlib import Path

import torch

from neuralkg_distil.cli.main import main
from neuralkg_distil.checkpoint.files import read_checkpoint

from conftest import cli_flags


def _model_weights(path: Path):
    return {k: v for k, v in read_checkpoint(path)["state_dict"].items() if k.startswith("model.")}


def test_pretraining_starts_from_the_given_weights(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--emb_dim", "8",
                      "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss")
    assert main(flags + ["--lr", "0.05", "--max_epochs", "4", "--run_dir", str(tmp_path / "first")]) == 0
    start = _model_weights(tmp_path / "first" / "pretrain" / "best.ckpt")
    # a rate far too small to move anything: the result must be the starting weights, not a fresh model
    assert main(flags + ["--lr", "1e-12", "--max_epochs", "2", "--run_dir", str(tmp_path / "tuned"),
                         "--init_ckpt", str(tmp_path / "first" / "pretrain" / "best.ckpt")]) == 0
    tuned = _model_weights(tmp_path / "tuned" / "pretrain" / "best.ckpt")
    assert all(torch.allclose(tuned[k], start[k], atol=1e-6) for k in start if start[k].is_floating_point())
    fresh_flags = flags + ["--lr", "1e-12", "--max_epochs", "2", "--run_dir", str(tmp_path / "fresh")]
    assert main(fresh_flags) == 0
    fresh = _model_weights(tmp_path / "fresh" / "pretrain" / "best.ckpt")
    assert not torch.allclose(fresh["model.ent_emb.weight"], start["model.ent_emb.weight"])


def test_init_ckpt_of_another_dimension_or_for_distillation_is_one_line(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel",
                      "--loss_name", "Adv_Loss", "--max_epochs", "2")
    assert main(flags + ["--emb_dim", "8", "--run_dir", str(tmp_path / "first")]) == 0
    ckpt = str(tmp_path / "first" / "pretrain" / "best.ckpt")
    capsys.readouterr()
    assert main(flags + ["--emb_dim", "4", "--run_dir", str(tmp_path / "other"), "--init_ckpt", ckpt]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neuralkg-distil: error: --init_ckpt checkpoint") and len(err.splitlines()) == 1
    assert not (tmp_path / "other" / "pretrain" / "results.json").exists()
    distil = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--emb_dim", "4", "--max_epochs", "1",
                       "--litmodel_name", "KGDistillLitModel", "--teacher_ckpt", ckpt, "--init_ckpt", ckpt,
                       "--run_dir", str(tmp_path / "d"))
    assert main(distil) == 2
    assert "--init_ckpt starts a pretraining" in capsys.readouterr().err
