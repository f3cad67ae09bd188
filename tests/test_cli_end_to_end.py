"""The whole pipeline through the CLI: pretrain -> stage 1 -> stage 2 -> test, on a generated graph
and on UMLS read from the data folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuralkg_distil.checkpoint.files import CONFIG_KEY
from neuralkg_distil.cli.main import main

from conftest import REPO, cli_flags

METRICS = {"mr", "mrr", "hits@1", "hits@3", "hits@10"}


def results(run_dir: Path, stage: str) -> dict:
    data = json.loads((run_dir / stage / "results.json").read_text())
    for role, info in data["models"].items():
        assert set(info["test"]) == METRICS, role
        assert 0.0 < info["test"]["mrr"] <= 1.0 and info["test"]["mr"] >= 1.0
        assert info["test"]["hits@1"] <= info["test"]["hits@3"] <= info["test"]["hits@10"] <= 1.0
    return data


def weights(path: Path, prefix: str) -> dict:
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def run_pipeline(data: Path, out: Path, model: str, loss: str, teacher_dim: int, student_dim: int, epochs: int, extra=()):
    flags = cli_flags(data, out, "--model_name", model, *extra)
    teacher_dir, distil_dir = out / data.name / f"{model}_{teacher_dim}", out / data.name / f"{model}_{student_dim}_distil"
    pretrain = ["--litmodel_name", "KGELitModel", "--loss_name", "Adv_Loss", "--emb_dim", str(teacher_dim), "--lr", "0.01"]
    assert main(flags + pretrain + ["--max_epochs", str(epochs)]) == 0
    teacher_ckpt = teacher_dir / "pretrain" / "best.ckpt"
    distil = ["--litmodel_name", "KGDistillLitModel", "--loss_name", loss, "--emb_dim", str(student_dim)]
    assert main(flags + distil + ["--teacher_ckpt", str(teacher_ckpt), "--lr", "0.01", "--max_epochs", str(epochs)]) == 0
    assert main(flags + distil + ["--stage2", "--lr", "0.001", "--max_epochs", "2"]) == 0
    return teacher_dir, distil_dir, teacher_ckpt


@pytest.mark.parametrize("model,loss", [("ComplEx", "DualDE_Loss"), ("TransE", "DistilE_Loss")])
def test_pipeline_on_generated_graph(small_graph, tmp_path, model, loss):
    teacher_dir, distil_dir, teacher_ckpt = run_pipeline(small_graph, tmp_path, model, loss, 16, 4, epochs=4)
    pre, s1, s2 = results(teacher_dir, "pretrain"), results(distil_dir, "stage1"), results(distil_dir, "stage2")
    assert pre["kind"] == "pretrain" and s1["stage"] == 1 and s2["stage"] == 2
    assert s1["models"]["model"]["emb_dim"] == 4 and s1["models"]["teacher"]["emb_dim"] == 16
    assert s1["models"]["model"]["params"] < s1["models"]["teacher"]["params"]
    # the frozen teacher of stage 1 is bit-identical to the pretrained one ...
    pretrained = weights(teacher_ckpt, "model.")
    stage1_teacher = weights(distil_dir / "stage1" / "best.ckpt", "teacher.")
    assert all(torch.equal(pretrained[k], stage1_teacher[k]) for k in pretrained)
    assert s1["models"]["teacher"]["test"] == pre["models"]["model"]["test"]
    # ... and stage 2 trains it, starting from the stage-1 student
    stage2_teacher = weights(distil_dir / "stage2" / "last.ckpt", "teacher.")
    assert not torch.equal(stage2_teacher["ent_emb.weight"], pretrained["ent_emb.weight"])
    # checkpoints carry the specs that rebuild both models, and load without unpickling code
    config = torch.load(distil_dir / "stage1" / "best.ckpt", weights_only=True)[CONFIG_KEY]
    assert config["models"]["model"]["emb_dim"] == 4 and config["models"]["teacher"]["model_name"] == model
    assert torch.load(teacher_ckpt, weights_only=True)[CONFIG_KEY]["kind"] == "pretrain"


def test_pipeline_on_umls(benchmark_data, tmp_path):
    teacher_dir, distil_dir, _ = run_pipeline(benchmark_data / "UMLS", tmp_path, "ComplEx", "DualDE_Loss", 32, 8, epochs=4,
                                              extra=("--train_bs", "1024"))
    pre, s2 = results(teacher_dir, "pretrain"), results(distil_dir, "stage2")
    assert pre["models"]["model"]["num_ent"] == 135 and pre["models"]["model"]["num_rel"] == 46
    assert s2["models"]["teacher"]["emb_dim"] == 32


@pytest.mark.slow  # a real process: run by make test and CI
def test_main_py_exit_codes_and_one_line_errors(small_graph, tmp_path):
    def run(*flags):
        return subprocess.run([sys.executable, "main.py", *flags], cwd=REPO, capture_output=True, text=True, timeout=300)

    proc = run("--data_path", str(tmp_path / "missing"), "--train_bs", "8")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"neuralkg-distil: error: dataset folder not found: {tmp_path / 'missing'} (--data_path; fetch one with 'neuralkg-distil fetch-data')"
    assert "Traceback" not in proc.stderr
    proc = run(*cli_flags(small_graph, tmp_path), "--litmodel_name", "KGDistillLitModel", "--emb_dim", "4")
    assert proc.returncode == 2 and "pass --teacher_ckpt" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(*cli_flags(small_graph, tmp_path), "--litmodel_name", "KGDistillLitModel", "--stage", "2")
    assert proc.returncode == 2 and "stage 2 needs a stage-1 checkpoint" in proc.stderr
    proc = run(*cli_flags(small_graph, tmp_path), "--alpha", "1.5")
    assert proc.returncode == 2 and "--alpha must lie in [0, 1]" in proc.stderr
    proc = run(*cli_flags(small_graph, tmp_path), "--model_name", "NoSuchModel", "--emb_dim", "4", "--max_epochs", "1")
    assert proc.returncode == 2 and "unknown model 'NoSuchModel'" in proc.stderr and "TransE" in proc.stderr
