"""Stage 2 keeps its starting student unless a stage-2 validation beats it, and the listwise term
runs end to end through the CLI (both stages)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from neuralkg_distil.checkpoint.files import read_checkpoint
from neuralkg_distil.cli.main import main

from conftest import cli_flags


def _results(path: Path):
    return json.loads(path.read_text())


def _weights(path: Path, prefix: str):
    return {k: v for k, v in read_checkpoint(path)["state_dict"].items() if k.startswith(prefix)}


def test_stage2_that_only_hurts_hands_back_its_starting_point(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx")
    teacher_dir, run = tmp_path / "teacher", tmp_path / "distil"
    assert main(flags + ["--emb_dim", "16", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
                         "--lr", "0.05", "--max_epochs", "30", "--run_dir", str(teacher_dir)]) == 0
    teacher = str(teacher_dir / "pretrain" / "best.ckpt")
    distil = flags + ["--emb_dim", "8", "--teacher_ckpt", teacher, "--run_dir", str(run), "--teacher_topk", "5",
              "--litmodel_name", "KGDistillLitModel", "--loss_name", "DistilE_Loss"]
    assert main(distil + ["--lr", "0.05", "--max_epochs", "30"]) == 0
    stage1 = _results(run / "stage1" / "results.json")
    # a rate that wrecks both models: no stage-2 validation can beat the start
    assert main(distil + ["--stage", "2", "--lr", "50", "--max_epochs", "4"]) == 0
    out = capsys.readouterr().out
    assert "stage 2 starts from valid MRR" in out
    stage2 = _results(run / "stage2" / "results.json")
    assert stage1["models"]["model"]["valid"]["mrr"] > 0.3  # a start far above what a wrecked model scores
    start = _weights(run / "stage1" / "best.ckpt", "model.")
    kept = _weights(run / "stage2" / "best.ckpt", "model.")
    assert all(torch.equal(kept[k], start[k]) for k in start)
    assert _weights(run / "stage2" / "best.ckpt", "teacher.").keys()
    teacher_start = _weights(Path(teacher), "model.")
    teacher_kept = _weights(run / "stage2" / "best.ckpt", "teacher.")
    assert all(torch.equal(teacher_kept["teacher." + k[len("model."):]], v) for k, v in teacher_start.items())
    assert stage2["models"]["model"]["valid"]["mrr"] == stage1["models"]["model"]["valid"]["mrr"]
    assert "teacher candidates: top 5" in out


def test_stage2_that_improves_keeps_its_own_best(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx")
    teacher_dir, run = tmp_path / "teacher", tmp_path / "distil"
    assert main(flags + ["--emb_dim", "16", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
                         "--lr", "0.05", "--max_epochs", "6", "--run_dir", str(teacher_dir)]) == 0
    distil = flags + ["--emb_dim", "4", "--teacher_ckpt", str(teacher_dir / "pretrain" / "best.ckpt"), "--run_dir", str(run),
              "--litmodel_name", "KGDistillLitModel", "--loss_name", "DistilE_Loss"]
    assert main(distil + ["--lr", "1e-4", "--max_epochs", "2"]) == 0  # a barely trained start
    stage1 = _results(run / "stage1" / "results.json")
    assert main(distil + ["--stage", "2", "--lr", "0.05", "--max_epochs", "8"]) == 0
    stage2 = _results(run / "stage2" / "results.json")
    assert stage2["models"]["model"]["valid"]["mrr"] > stage1["models"]["model"]["valid"]["mrr"]
    assert not all(torch.equal(a, b) for a, b in zip(_weights(run / "stage1" / "best.ckpt", "model.").values(),
                                                     _weights(run / "stage2" / "best.ckpt", "model.").values()))
