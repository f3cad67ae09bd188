"""``neuralkg-distil iterate`` (IterDE's chain): resume after a real kill, frozen links, the growing soft weight."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from neuralkg_distil.run.chain import parse_dims
from neuralkg_distil.checkpoint.files import read_checkpoint
from neuralkg_distil.cli.main import main
from neuralkg_distil.errors import ConfigError

from conftest import REPO, cli_flags


def _weights(path: Path, prefix: str):
    return {k[len(prefix):]: v for k, v in read_checkpoint(path)["state_dict"].items() if k.startswith(prefix)}


@pytest.mark.parametrize("text", ["16", "16,16", "8,16", "16,x", "16,0"])
def test_bad_dims_are_one_line_errors(text):
    with pytest.raises(ConfigError, match="--dims"):
        parse_dims(text)


def test_iterate_refuses_flags_it_sets_itself(capsys):
    assert main(["iterate", "--dims", "16,8", "--emb_dim", "4"]) == 2
    assert "iterate sets --emb_dim" in capsys.readouterr().err


@pytest.mark.slow  # a real process: run by make test and CI
def test_killed_chain_resumes_without_retraining_finished_links(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--loss_name", "DistilE_Loss", "--lr", "0.05",
                      "--max_epochs", "40", "--soft_weight_warmup", "10")
    root = tmp_path / "chain"
    argv = ["iterate", "--dims", "32,16,8", "--run_dir", str(root), *flags]
    proc = subprocess.Popen([sys.executable, "-m", "neuralkg_distil.cli.main", *argv], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last_link = root / "ComplEx_8" / "stage1"
    deadline = time.time() + 240
    while not last_link.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # inside the last link: the first two are finished
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    first, second = root / "ComplEx_32" / "pretrain" / "results.json", root / "ComplEx_16" / "stage1" / "results.json"
    assert first.is_file() and second.is_file() and not (last_link / "results.json").exists()
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (first, second)}
    ckpts = {p: p.read_bytes() for p in (root / "ComplEx_32" / "pretrain" / "best.ckpt", root / "ComplEx_16" / "stage1" / "best.ckpt")}

    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier, kept") == 2
    for path, stamp in stamps.items():  # the finished links were not retrained
        assert (path.stat().st_mtime_ns, path.read_bytes()) == stamp
    for path, data in ckpts.items():
        assert path.read_bytes() == data
    chain = json.loads((root / "chain.json").read_text())
    assert [r["dim"] for r in chain["links"]] == [32, 16, 8]
    assert [r["kind"] for r in chain["links"]] == ["pretrain", "distil", "distil"]
    assert all(0.0 <= r["mrr"] <= 1.0 and r["epochs"] > 0 for r in chain["links"])
    assert chain["chain_training_s"] > 0 and chain["teacher_pretraining_s"] > 0

    # each link's teacher is the previous link's model, frozen: bit-identical after its link
    for teacher_ckpt, link_ckpt in ((root / "ComplEx_32" / "pretrain" / "best.ckpt", root / "ComplEx_16" / "stage1" / "best.ckpt"),
                                    (root / "ComplEx_16" / "stage1" / "best.ckpt", root / "ComplEx_8" / "stage1" / "best.ckpt")):
        before, after = _weights(teacher_ckpt, "model."), _weights(link_ckpt, "teacher.")
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before)

    # the growing soft weight is on by default in distilled links and logged per epoch
    with open(root / "ComplEx_16" / "logs" / "stage1" / "metrics.csv", newline="") as handle:
        scales = [float(r["Train|soft_weight_scale"]) for r in csv.DictReader(handle) if r.get("Train|soft_weight_scale")]
    assert scales[0] == 0.0 and scales[-1] == 1.0
    assert scales == sorted(scales)


def test_a_given_teacher_starts_the_chain(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--lr", "0.05", "--max_epochs", "4")
    teacher_dir = tmp_path / "teacher"
    assert main([*flags, "--emb_dim", "16", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
                 "--run_dir", str(teacher_dir)]) == 0
    teacher = teacher_dir / "pretrain" / "best.ckpt"
    root = tmp_path / "chain"
    assert main(["iterate", "--dims", "16,8", "--teacher_ckpt", str(teacher), "--run_dir", str(root),
                 "--loss_name", "DistilE_Loss", *flags]) == 0
    assert not (root / "ComplEx_16").exists()
    kept = _weights(root / "ComplEx_8" / "stage1" / "best.ckpt", "teacher.")
    assert all(torch.equal(v, kept[k]) for k, v in _weights(teacher, "model.").items())


def test_pretraining_with_a_distillation_loss_is_one_line(small_graph, tmp_path, capsys):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--loss_name", "DistilE_Loss", "--max_epochs", "2")
    assert main([*flags, "--emb_dim", "8", "--run_dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a distillation loss" in err[0]
    assert not (tmp_path / "x" / "pretrain" / "best.ckpt").exists()
