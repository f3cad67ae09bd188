"""Loading teachers: a real NeuralKG KGELitModel checkpoint, our own checkpoints, and each mismatch."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from neuralkg_distil.checkpoint.files import read_checkpoint
from neuralkg_distil.errors import CheckpointError
from neuralkg_distil.checkpoint.rebuild import load_model



def neuralkg_checkpoint(graph: Path, out: Path, model_name: str, dim: int) -> tuple[Path, int, int]:
    """Train NeuralKG's own KGELitModel for one epoch exactly as NeuralKG's main.py does, and save
    the checkpoint with Lightning's ModelCheckpoint (save_weights_only, like NeuralKG)."""
    from neuralkg.data import KGDataModule, TestSampler, UniSampler
    from neuralkg.lit_model import KGELitModel
    from neuralkg.utils import setup_parser
    from neuralkg.utils.tools import import_class

    args = setup_parser().parse_args(
        ["--data_path", str(graph), "--model_name", model_name, "--emb_dim", str(dim), "--train_bs", "64",
         "--num_neg", "4", "--num_workers", "0", "--max_epochs", "1", "--eval_bs", "64"]
    )
    sampler = UniSampler(args)  # NeuralKG writes num_ent / num_rel into args here
    data = KGDataModule(args, sampler, TestSampler(sampler))
    lit = KGELitModel(import_class(f"neuralkg.model.{model_name}")(args), args)
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=str(out), filename="neuralkg", save_weights_only=True)
    trainer = pl.Trainer(max_epochs=1, callbacks=[ckpt], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, accelerator="cpu", devices=1)
    trainer.fit(lit, datamodule=data)
    return Path(ckpt.last_model_path or ckpt.best_model_path or out / "neuralkg.ckpt"), args.num_ent, args.num_rel


@pytest.fixture(scope="module")
def complex_ckpt(small_graph, tmp_path_factory):
    return neuralkg_checkpoint(small_graph, tmp_path_factory.mktemp("nk"), "ComplEx", 12)


@pytest.fixture(scope="module")
def transh_ckpt(small_graph, tmp_path_factory):
    return neuralkg_checkpoint(small_graph, tmp_path_factory.mktemp("nkh"), "TransH", 10)


def test_loads_real_neuralkg_checkpoint_and_infers_dim(complex_ckpt):
    path, num_ent, num_rel = complex_ckpt
    model, spec = load_model(path, model_name="ComplEx", num_ent=num_ent, num_rel=num_rel)
    assert spec.emb_dim == 12 and spec.num_ent == num_ent and spec.model_name == "ComplEx"
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert torch.equal(model.ent_emb.weight, saved["model.ent_emb.weight"])
    assert torch.equal(model.rel_emb.weight, saved["model.rel_emb.weight"])


def test_explicit_dim_is_checked(complex_ckpt):
    path, num_ent, num_rel = complex_ckpt
    load_model(path, model_name="ComplEx", num_ent=num_ent, num_rel=num_rel, dim=12)
    with pytest.raises(CheckpointError, match="has dimension 12, but the flags say 16"):
        load_model(path, model_name="ComplEx", num_ent=num_ent, num_rel=num_rel, dim=16)


def test_entity_and_relation_count_mismatch(complex_ckpt):
    path, num_ent, num_rel = complex_ckpt
    with pytest.raises(CheckpointError, match=f"has {num_ent} entities, the dataset has {num_ent + 1}"):
        load_model(path, model_name="ComplEx", num_ent=num_ent + 1, num_rel=num_rel)
    with pytest.raises(CheckpointError, match=f"has {num_rel} relations, the dataset has {num_rel + 2}"):
        load_model(path, model_name="ComplEx", num_ent=num_ent, num_rel=num_rel + 2)


def test_other_model_family_is_refused(complex_ckpt, transh_ckpt):
    path, num_ent, num_rel = complex_ckpt
    with pytest.raises(CheckpointError, match="does not hold RotatE weights"):
        load_model(path, model_name="RotatE", num_ent=num_ent, num_rel=num_rel)
    with pytest.raises(CheckpointError, match="does not hold SimplE weights"):
        load_model(path, model_name="SimplE", num_ent=num_ent, num_rel=num_rel)
    hpath, num_ent, num_rel = transh_ckpt
    with pytest.raises(CheckpointError, match="does not hold TransE weights.*looks like TransH"):
        load_model(hpath, model_name="TransE", num_ent=num_ent, num_rel=num_rel)
    model, spec = load_model(hpath, model_name="TransH", num_ent=num_ent, num_rel=num_rel)
    assert spec.emb_dim == 10 and model.norm_vector.weight.shape == (num_rel, 10)


def test_missing_empty_and_truncated_files(complex_ckpt, tmp_path):
    path, num_ent, num_rel = complex_ckpt
    kw = dict(model_name="ComplEx", num_ent=num_ent, num_rel=num_rel)
    with pytest.raises(CheckpointError, match="teacher checkpoint not found"):
        load_model(tmp_path / "nope.ckpt", **kw)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_model(empty, **kw)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_model(truncated, **kw)
    no_model = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, no_model)
    with pytest.raises(CheckpointError, match="no weights under 'model.'"):
        load_model(no_model, **kw)


class _Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"model.ent_emb.weight": torch.zeros(2, 2)}, "payload": _Exploit(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="refusing"):
        read_checkpoint(evil)
    with pytest.raises(CheckpointError, match="refusing"):
        load_model(evil, model_name="TransE", num_ent=2, num_rel=1)
    assert not marker.exists()
    # the same file does run code when loaded unsafely: the test would notice a safe load regressing
    with open(evil, "rb") as handle:
        assert handle.read(2) == b"PK"


def test_several_teachers_of_different_families(complex_ckpt, transh_ckpt):
    """--teacher_ckpt a,b: every checkpoint loaded and checked like a single teacher."""
    import argparse

    from neuralkg_distil.errors import ConfigError
    from neuralkg_distil.methods.roles import load_teachers, teacher_roles

    (cpath, num_ent, num_rel), (hpath, _, _) = complex_ckpt, transh_ckpt
    args = argparse.Namespace(teacher_ckpt=f"{cpath},{hpath}", teacher_model="ComplEx,TransH", teacher_dim=None,
                              model_name="RotH")
    models, specs = load_teachers(args, num_ent, num_rel)
    assert [(s.model_name, s.emb_dim) for s in specs] == [("ComplEx", 12), ("TransH", 10)]
    assert torch.equal(models[1].ent_emb.weight, torch.load(hpath, weights_only=True)["state_dict"]["model.ent_emb.weight"])
    assert teacher_roles(3) == ["teacher", "teacher2", "teacher3"]
    with pytest.raises(CheckpointError, match="holds TransH|does not hold ComplEx"):  # each one is checked
        load_teachers(argparse.Namespace(**{**vars(args), "teacher_model": "ComplEx"}), num_ent, num_rel)
    with pytest.raises(ConfigError, match="--teacher_model names 3 classes for 2"):
        load_teachers(argparse.Namespace(**{**vars(args), "teacher_model": "ComplEx,TransH,TransE"}), num_ent, num_rel)
    with pytest.raises(ConfigError, match="--teacher_dim 12 with 2"):
        load_teachers(argparse.Namespace(**{**vars(args), "teacher_dim": 12}), num_ent, num_rel)
    with pytest.raises(CheckpointError, match="entities"):
        load_teachers(args, num_ent + 1, num_rel)


def test_single_teacher_methods_refuse_several():
    from neuralkg_distil.errors import ConfigError
    from neuralkg_distil.methods.registry import method_named

    method_named("DistilE").check_teachers(1)
    with pytest.raises(ConfigError, match="--teacher_ckpt lists 2 checkpoints; DistilE takes 1 teacher"):
        method_named("DistilE").check_teachers(2)
