"""Faults: malicious checkpoints, NaN/Inf during training, crashes mid-write, kill and resume.

The resume tests compare against an uninterrupted run with the same seed: every metric of
the final results must be equal, not close.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

from neuralkg_distil.checkpoint.lightning_io import SafeCheckpointIO
from neuralkg_distil.checkpoint.files import atomic_save, atomic_write_json, read_checkpoint
from neuralkg_distil.cli.main import main
from neuralkg_distil.data.synthetic import generate_graph
from neuralkg_distil.errors import CheckpointError
from neuralkg_distil.callbacks.guards import NonFiniteError, NonFiniteGuard

from conftest import REPO, cli_flags

PRETRAIN = ("--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
            "--check_per_epoch", "1", "--early_stop_patience", "50", "--lr", "0.01", "--train_bs", "290")
DISTIL = ("--model_name", "ComplEx", "--litmodel_name", "KGDistillLitModel", "--loss_name", "DualDE_Loss",
          "--emb_dim", "8", "--check_per_epoch", "1", "--early_stop_patience", "50", "--lr", "0.01",
          "--train_bs", "256")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Dict[str, Path]:
    """A 300-entity graph and a 16-dim teacher trained on it.

    An epoch is 13 batches for pretraining (3,840 triples, the partial batch dropped) and 15
    for distillation: odd counts, so the sampler's head/tail alternation differs between
    epochs and a resume that lost it would draw other negatives.
    """
    root = tmp_path_factory.mktemp("faults")
    graph = generate_graph(root / "graph", seed=3)
    teacher_run = root / "teacher"
    assert main(cli_flags(graph, root, *PRETRAIN, "--emb_dim", "16", "--max_epochs", "3", "--run_dir", str(teacher_run))) == 0
    return {"root": root, "graph": graph, "teacher": teacher_run / "pretrain" / "best.ckpt"}


def _results(stage_dir: Path) -> Dict[str, Any]:
    saved = json.loads((stage_dir / "results.json").read_text())
    metrics = {role: {"valid": m["valid"], "test": m["test"]} for role, m in saved["models"].items()}
    return {"epochs": saved["epochs"], "metrics": metrics}


def _run(argv: List[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err


# ------------------------------------------------------------------------------ safe loading
class _Exploit:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(source: Path, path: Path, marker: Path) -> Path:
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["payload"] = _Exploit(marker)
    torch.save(checkpoint, path)
    return path


def test_malicious_checkpoint_is_refused_on_every_path(setup, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(setup["teacher"], tmp_path / "evil.ckpt", marker)
    base = cli_flags(setup["graph"], tmp_path, "--max_epochs", "1")
    attempts = {
        "teacher": base + [*DISTIL, "--teacher_ckpt", str(evil), "--run_dir", str(tmp_path / "a")],
        "stage-1 student": base + [*DISTIL, "--stage", "2", "--student_ckpt", str(evil), "--run_dir", str(tmp_path / "b")],
        "test_only": base + [*PRETRAIN, "--emb_dim", "16", "--test_only", "--checkpoint_dir", str(evil),
                             "--run_dir", str(tmp_path / "c")],
    }
    resume_dir = tmp_path / "d" / "pretrain"
    resume_dir.mkdir(parents=True)
    _evil_checkpoint(setup["teacher"], resume_dir / "last.ckpt", marker)
    attempts["resume"] = base + [*PRETRAIN, "--emb_dim", "16", "--resume", "--run_dir", str(tmp_path / "d")]
    for what, argv in attempts.items():
        rc, err = _run(argv, capsys)
        assert rc == 2, (what, err)
        assert "refusing to load it (it could run code)" in err and "Traceback" not in err, (what, err)
        assert not marker.exists(), what
    with pytest.raises(CheckpointError, match="refusing"):
        SafeCheckpointIO().load_checkpoint(evil)
    assert not marker.exists()
    # The payload is live: an unsafe load does run it, so the checks above could fail.
    torch.load(evil, weights_only=False)
    assert marker.exists()


# ------------------------------------------------------------------------------ non-finite
def test_nan_loss_stops_stage1_keeps_last_good_checkpoint_and_resumes_exactly(setup, tmp_path: Path, capsys, monkeypatch) -> None:
    from neuralkg_distil.methods.losses import DualDE_Loss

    flags = cli_flags(setup["graph"], tmp_path, *DISTIL, "--teacher_ckpt", str(setup["teacher"]), "--max_epochs", "4")
    assert main(flags + ["--run_dir", str(tmp_path / "clean")]) == 0

    forward = DualDE_Loss.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        loss = forward(self, *args, **kwargs)
        return loss * float("nan") if calls["n"] == 21 else loss  # step 20: epoch 1, after epoch 0's checkpoint

    monkeypatch.setattr(DualDE_Loss, "forward", poisoned)
    run = tmp_path / "poisoned"
    rc, err = _run(flags + ["--run_dir", str(run)], capsys)
    stage = run / "stage1"
    assert rc == 2, err
    assert (f"neuralkg-distil: error: non-finite loss (nan) at step 20 (epoch 1) of stage 1; training stopped before "
            f"the update; the last good checkpoint is {stage / 'last.ckpt'}: rerun with --resume and a lower --lr to "
            "continue from it") in err
    assert "Traceback" not in err and not (stage / "results.json").exists()
    last = read_checkpoint(stage / "last.ckpt")
    assert last["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())

    monkeypatch.setattr(DualDE_Loss, "forward", forward)
    shutil.copytree(run, tmp_path / "lower_lr")
    rc, err = _run(flags + ["--run_dir", str(run), "--resume"], capsys)
    assert rc == 0, err
    assert _results(stage) == _results(tmp_path / "clean" / "stage1")
    # the interrupted run's training log is kept beside the resumed one's
    assert (run / "logs" / "stage1" / "metrics.csv").is_file() and (run / "logs" / "stage1-resume1").is_dir()

    # As the message advises: resume with a lower --lr, which must replace the checkpoint's rate.
    # It resumes a copy of the run folder: the original must stay as it is, and the copy must not
    # grow Lightning's last-v1.ckpt / best-v1.ckpt.
    original = {p: p.read_bytes() for p in run.rglob("*.ckpt")}
    capsys.readouterr()
    assert main(flags + ["--run_dir", str(tmp_path / "lower_lr"), "--resume", "--lr", "0.005"]) == 0
    assert {p: p.read_bytes() for p in run.rglob("*.ckpt")} == original
    assert sorted(p.name for p in (tmp_path / "lower_lr" / "stage1").glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    assert "resuming with --lr 0.005 (the interrupted run had 0.01)" in capsys.readouterr().out
    groups = read_checkpoint(tmp_path / "lower_lr" / "stage1" / "last.ckpt")["optimizer_states"][0]["param_groups"]
    # the student's group takes the new --lr; the calibrated gates keep their own --gate_lr (0.01)
    assert [g["initial_lr"] for g in groups] == [0.005, 0.01]
    assert [g["lr"] for g in groups] == pytest.approx([0.0005, 0.001])  # after the schedule's drop at epoch 2


def test_infinite_score_stops_pretraining(setup, tmp_path: Path, capsys, monkeypatch) -> None:
    from neuralkg_distil.training.batch_scores import FastTrainScorer, Scores

    score = FastTrainScorer.__call__
    calls = {"n": 0}

    def overflowing(self, model, batch):
        calls["n"] += 1
        scores = score(self, model, batch)
        if calls["n"] == 3:
            neg = scores.neg.clone()
            neg[0, 0] = float("inf")
            scores = Scores(scores.pos, neg)
        return scores

    monkeypatch.setattr(FastTrainScorer, "__call__", overflowing)
    rc, err = _run(cli_flags(setup["graph"], tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "2"), capsys)
    assert rc == 2, err
    assert "neuralkg-distil: error: non-finite model scores (1 of " in err
    assert "at step 2 (epoch 0) of pretraining" in err and "no checkpoint was written yet" in err


def test_nan_loss_in_neuralkg_lit_model_is_caught_by_the_callback(setup, tmp_path: Path, capsys, monkeypatch) -> None:
    import importlib

    adv_loss = importlib.import_module("neuralkg.loss").Adv_Loss
    forward = adv_loss.forward
    monkeypatch.setattr(adv_loss, "forward", lambda self, *a, **k: forward(self, *a, **k) * float("nan"))
    argv = cli_flags(setup["graph"], tmp_path, *PRETRAIN, "--litmodel_name", "KGELitModel", "--emb_dim", "8",
                     "--max_epochs", "1", "--train_sampler_class", "UniSampler")
    rc, err = _run(argv, capsys)
    assert rc == 2 and "non-finite loss (nan) at step 0 (epoch 0) of pretraining" in err, err


def test_checkpoint_with_non_finite_weights_is_never_written() -> None:
    class Module:
        _trainer = None

    state = {"model.ent_emb.weight": torch.tensor([[1.0, float("inf")]]), "model.margin": torch.tensor([6.0])}
    with pytest.raises(NonFiniteError, match=r"non-finite weights in model.ent_emb.weight \(not saved\)"):
        NonFiniteGuard().on_save_checkpoint(None, Module(), {"state_dict": state})
    NonFiniteGuard().on_save_checkpoint(None, Module(), {"state_dict": {"w": torch.ones(2)}})


def test_early_stopped_run_killed_before_its_results_resumes_without_training_on(setup, tmp_path: Path, capsys, monkeypatch) -> None:
    import neuralkg_distil.checkpoint.files as checkpoints

    flags = cli_flags(setup["graph"], tmp_path, *PRETRAIN, "--emb_dim", "8", "--max_epochs", "40",
                      "--early_stop_patience", "1", "--lr", "0.2")
    assert main(flags + ["--run_dir", str(tmp_path / "clean")]) == 0
    clean = _results(tmp_path / "clean" / "pretrain")
    assert clean["epochs"] < 40  # early stopping fired

    write = checkpoints.atomic_write_json

    def killed(*args, **kwargs):  # the process dies after training, before results.json
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "atomic_write_json", killed)
    run = tmp_path / "run"
    assert main(flags + ["--run_dir", str(run)]) == 130
    monkeypatch.setattr(checkpoints, "atomic_write_json", write)
    rc, err = _run(flags + ["--run_dir", str(run), "--resume"], capsys)
    assert rc == 0, err
    assert _results(run / "pretrain") == clean


# ------------------------------------------------------------------------------ atomic writes
def _half_then_die(obj, handle, *args, **kwargs):
    handle.write(b"PK\x03\x04 half a checkpoint")
    raise OSError("No space left on device")


def _die(*args, **kwargs):
    raise OSError("I/O error")


# Where the simulated crash hits: while the bytes are written, while they are flushed to disk,
# or just before the rename (a writer that wrote in place would already have replaced the file).
CRASH_POINTS = {"mid-write": (torch, "save", _half_then_die), "fsync": (os, "fsync", _die),
                "rename": (os, "replace", _die)}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_crash_mid_write_keeps_the_previous_file(point: str, tmp_path: Path, monkeypatch) -> None:
    ckpt, lightning_ckpt, results = tmp_path / "last.ckpt", tmp_path / "best.ckpt", tmp_path / "results.json"
    atomic_save({"state_dict": {"w": torch.arange(4.0)}}, ckpt)
    SafeCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, lightning_ckpt)
    atomic_write_json({"mrr": 0.25}, results)
    before = {p: p.read_bytes() for p in (ckpt, lightning_ckpt, results)}

    monkeypatch.setattr(*CRASH_POINTS[point])
    with pytest.raises(OSError):
        atomic_save({"state_dict": {"w": torch.zeros(4)}}, ckpt)
    with pytest.raises(OSError):
        SafeCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, lightning_ckpt)
    if point != "mid-write":  # JSON is not written by torch.save
        with pytest.raises(OSError):
            atomic_write_json({"mrr": 0.5}, results)
    monkeypatch.undo()

    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt", "results.json"]  # no temp files
    assert torch.equal(read_checkpoint(ckpt)["state_dict"]["w"], torch.arange(4.0))


# ------------------------------------------------------------------------------ kill and resume
@pytest.mark.slow  # a real process: run by make test and CI
def test_killed_run_resumes_to_the_same_metrics(setup, tmp_path: Path, capsys) -> None:
    """SIGKILL a real training process after its first checkpoint, resume, compare with a clean run."""
    flags = cli_flags(setup["graph"], tmp_path, *PRETRAIN, "--emb_dim", "16", "--max_epochs", "10")
    assert main(flags + ["--run_dir", str(tmp_path / "clean")]) == 0

    run = tmp_path / "killed"
    stage = run / "pretrain"
    proc = subprocess.Popen([sys.executable, "main.py", *flags, "--run_dir", str(run)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (stage / "last.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (stage / "results.json").exists()
    killed_at = read_checkpoint(stage / "last.ckpt")["epoch"]
    assert killed_at < 9

    rc, err = _run(flags + ["--run_dir", str(run), "--resume"], capsys)
    assert rc == 0, err
    assert _results(stage) == _results(tmp_path / "clean" / "pretrain")


def test_interrupted_stage2_resumes_to_the_same_metrics(setup, tmp_path: Path, capsys, monkeypatch) -> None:
    from neuralkg_distil.training.sampling import TorchUniSampler

    base = cli_flags(setup["graph"], tmp_path, *DISTIL, "--teacher_ckpt", str(setup["teacher"]), "--max_epochs", "2")
    stage1 = tmp_path / "s1"
    assert main(base + ["--run_dir", str(stage1)]) == 0
    # Validation every 2 epochs: Lightning would save from inside the validation loop, and a resume
    # from such a checkpoint steps the learning-rate schedule twice (its drop, due at epoch 3 of 6,
    # would come at epoch 2).
    flags = base + ["--stage", "2", "--student_ckpt", str(stage1 / "stage1" / "best.ckpt"), "--max_epochs", "6",
                    "--lr", "0.001", "--check_per_epoch", "2"]
    assert main(flags + ["--run_dir", str(tmp_path / "clean")]) == 0

    sampling = TorchUniSampler.sampling
    calls = {"n": 0}

    def ctrl_c(self, data):
        calls["n"] += 1
        if calls["n"] == 40:  # in epoch 2, after epoch 1's checkpoint
            raise KeyboardInterrupt
        return sampling(self, data)

    monkeypatch.setattr(TorchUniSampler, "sampling", ctrl_c)
    run = tmp_path / "interrupted"
    rc, err = _run(flags + ["--run_dir", str(run)], capsys)
    assert rc == 130 and "continue with --resume" in err, err
    assert not (run / "stage2" / "results.json").exists()  # an interrupted run is not reported as finished
    monkeypatch.setattr(TorchUniSampler, "sampling", sampling)
    rc, err = _run(flags + ["--run_dir", str(run), "--resume"], capsys)
    assert rc == 0, err
    assert _results(run / "stage2") == _results(tmp_path / "clean" / "stage2")


def test_checkpoint_io_uses_a_checkpoint_already_read_once(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    checked = {"state_dict": {}}
    io = SafeCheckpointIO(preloaded={str(path): checked})
    assert io.load_checkpoint(path) is checked  # no second read of a large file
    with pytest.raises(CheckpointError, match="checkpoint to resume not found"):
        io.load_checkpoint(path)  # only once: later loads read the file
