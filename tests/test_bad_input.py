"""Every bad input the CLI can meet: exit code 2, one line naming what is wrong, no earlier run harmed.

Each case points the run at a folder that already holds a finished run and passes
``--overwrite``: a bad input must be refused before that folder is touched.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch

from neuralkg_distil.cli.main import main
from neuralkg_distil.data.synthetic import generate_graph

from conftest import cli_flags

PRETRAIN = ("--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
            "--emb_dim", "8", "--max_epochs", "1", "--check_per_epoch", "1")
DISTIL = ("--model_name", "ComplEx", "--litmodel_name", "KGDistillLitModel", "--loss_name", "DualDE_Loss",
          "--emb_dim", "4", "--max_epochs", "1", "--check_per_epoch", "1")


class Earlier:
    """A finished teacher run and a finished stage-1 run, made once for the module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.graph = generate_graph(root / "graph", num_entities=60, num_relations=4, seed=3)
        self.out = root / "out"
        self.teacher_run = root / "teacher_run"
        self.distil_run = root / "distil_run"
        assert main(cli_flags(self.graph, self.out, *PRETRAIN, "--emb_dim", "16", "--run_dir", str(self.teacher_run))) == 0
        self.teacher = self.teacher_run / "pretrain" / "best.ckpt"
        assert main(cli_flags(self.graph, self.out, *DISTIL, "--teacher_ckpt", str(self.teacher),
                              "--run_dir", str(self.distil_run))) == 0

    def snapshot(self) -> Dict[str, str]:
        """sha256 of every file under the earlier runs and the output folder."""
        files = {}
        for folder in (self.teacher_run, self.distil_run, self.out):
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return files


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Earlier:
    return Earlier(tmp_path_factory.mktemp("earlier"))


def _copy_graph(earlier: Earlier, tmp_path: Path, mutate: Callable[[Path], None]) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(earlier.graph, folder)
    mutate(folder)
    return folder


def _first_line_rest(path: Path) -> str:
    return path.read_text().split("\n", 1)[1]


# ------------------------------------------------------------------------------------ datasets
def _wrong_columns_triple(d: Path) -> None:
    lines = (d / "valid.txt").read_text().splitlines()
    lines[2] += "\textra"
    (d / "valid.txt").write_text("\n".join(lines) + "\n")


def _wrong_columns_dict(d: Path) -> None:
    (d / "entities.dict").write_text("17\n" + _first_line_rest(d / "entities.dict"))


def _unknown_entity(d: Path) -> None:
    h, r, t = (d / "test.txt").read_text().splitlines()[0].split("\t")
    (d / "test.txt").write_text(f"{h}\t{r}\tno_such_entity\n" + _first_line_rest(d / "test.txt"))


def _unknown_relation(d: Path) -> None:
    h, r, t = (d / "valid.txt").read_text().splitlines()[0].split("\t")
    (d / "valid.txt").write_text(f"{h}\tno_such_relation\t{t}\n" + _first_line_rest(d / "valid.txt"))


def _duplicate_name(d: Path) -> None:
    first = (d / "entities.dict").read_text().splitlines()[0].split("\t")[1]
    with open(d / "entities.dict", "a") as handle:
        handle.write(f"60\t{first}\n")


def _duplicate_id(d: Path) -> None:
    with open(d / "relations.dict", "a") as handle:
        handle.write("2\tr_extra\n")


def _id_gap(d: Path) -> None:
    with open(d / "relations.dict", "a") as handle:
        handle.write("9\tr_extra\n")


def _non_utf8(d: Path) -> None:
    lines = (d / "train.txt").read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"e", b"\xe9", 1)  # Latin-1 e-acute
    (d / "train.txt").write_bytes(b"\n".join(lines))


def _blank_line(d: Path) -> None:
    (d / "test.txt").write_text((d / "test.txt").read_text() + "\n")


DATASET_CASES = [
    ("missing folder", None, "dataset folder not found: {data}"),
    ("missing file", lambda d: (d / "test.txt").unlink(), "dataset file missing: {data}/test.txt"),
    ("empty file", lambda d: (d / "train.txt").write_text(""), "{data}/train.txt: empty file"),
    ("wrong column count (triples)", _wrong_columns_triple, "{data}/valid.txt:3: expected 3 columns 'head relation tail', found 4"),
    ("wrong column count (dictionary)", _wrong_columns_dict, "{data}/entities.dict:1: expected 2 tab-separated columns"),
    ("entity not in the dictionary", _unknown_entity, "{data}/test.txt:1: entity 'no_such_entity' is not in entities.dict"),
    ("relation not in the dictionary", _unknown_relation, "{data}/valid.txt:1: relation 'no_such_relation' is not in relations.dict"),
    ("duplicate entity name", _duplicate_name, "{data}/entities.dict:61: duplicate entity name 'e00' (first on line 1)"),
    ("duplicate relation id", _duplicate_id, "{data}/relations.dict:5: duplicate id 2 (line 3 gives it to"),
    ("ids with a gap", _id_gap, "{data}/relations.dict:5: id 9 out of range; the 5 ids must be 0..4"),
    ("non-UTF-8 byte", _non_utf8, "{data}/train.txt:5: not UTF-8 (byte 0xe9 at column 1)"),
    ("blank line", _blank_line, "empty line"),
]


def _run(argv: List[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err


def _assert_one_line_error(rc: int, err: str, expected: str) -> None:
    assert rc == 2, err
    errors = [line for line in err.splitlines() if line.startswith("neuralkg-distil: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert expected in errors[0], f"{expected!r} not in {errors[0]!r}"


@pytest.mark.parametrize("case", DATASET_CASES, ids=[c[0] for c in DATASET_CASES])
def test_bad_dataset(case, earlier: Earlier, tmp_path: Path, capsys) -> None:
    _, mutate, expected = case
    data = tmp_path / "nowhere" if mutate is None else _copy_graph(earlier, tmp_path, mutate)
    before = earlier.snapshot()
    argv = cli_flags(data, earlier.out, *PRETRAIN, "--run_dir", str(earlier.teacher_run), "--overwrite")
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, expected.format(data=data))
    assert earlier.snapshot() == before


def test_entities_unseen_in_training_are_a_warning(earlier: Earlier, tmp_path: Path, capsys) -> None:
    # WN18RR and FB15k-237 have such test triples; the papers keep them, so the run goes on.
    def unseen(d: Path) -> None:
        with open(d / "entities.dict", "a") as handle:
            handle.write("60\tlonely\n")
        h, r, t = (d / "test.txt").read_text().splitlines()[0].split("\t")
        (d / "test.txt").write_text(f"{h}\t{r}\tlonely\n" + _first_line_rest(d / "test.txt"))

    data = _copy_graph(earlier, tmp_path, unseen)
    rc, err = _run(cli_flags(data, tmp_path / "out", *PRETRAIN), capsys)
    assert rc == 0, err
    assert f"neuralkg-distil: warning: {data}/test.txt: 1 triple(s) use an entity or relation that never occurs in train.txt" in err


# --------------------------------------------------------------------------------- checkpoints
def _truncated(earlier: Earlier, tmp_path: Path) -> Path:
    data = earlier.teacher.read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    return path


def _garbage(earlier: Earlier, tmp_path: Path) -> Path:
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"this is not a checkpoint\n" * 40)
    return path


def _empty(earlier: Earlier, tmp_path: Path) -> Path:
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    return path


def _other_family(earlier: Earlier, tmp_path: Path) -> Path:
    # A checkpoint as NeuralKG writes it (no record of the class): TransH weights.
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    model = build_model(ModelSpec("TransH", 16, 60, 4))
    path = tmp_path / "transh.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    return path


def _other_counts(earlier: Earlier, tmp_path: Path) -> Path:
    checkpoint = torch.load(earlier.teacher, weights_only=True)
    state = {k: v for k, v in checkpoint["state_dict"].items()}
    state["model.ent_emb.weight"] = state["model.ent_emb.weight"][:50]
    path = tmp_path / "fewer_entities.ckpt"
    torch.save({"state_dict": state}, path)  # NeuralKG layout: shapes are all there is to check
    return path


def _other_counts_with_config(earlier: Earlier, tmp_path: Path) -> Path:
    checkpoint = torch.load(earlier.teacher, weights_only=True)
    checkpoint["neuralkg_distil"]["models"]["model"]["num_rel"] = 7
    path = tmp_path / "other_relations.ckpt"
    torch.save(checkpoint, path)
    return path


def _not_a_tensor(earlier: Earlier, tmp_path: Path) -> Path:
    checkpoint = torch.load(earlier.teacher, weights_only=True)
    checkpoint["state_dict"]["model.ent_emb.weight"] = [[0.0] * 32] * 60
    path = tmp_path / "list.ckpt"
    torch.save(checkpoint, path)
    return path


def _malformed_config(earlier: Earlier, tmp_path: Path) -> Path:
    checkpoint = torch.load(earlier.teacher, weights_only=True)
    checkpoint["neuralkg_distil"]["models"]["model"] = {"model_name": "ComplEx", "emb_dim": "sixteen"}
    path = tmp_path / "malformed.ckpt"
    torch.save(checkpoint, path)
    return path


def _nan_weights(earlier: Earlier, tmp_path: Path) -> Path:
    checkpoint = torch.load(earlier.teacher, weights_only=True)
    checkpoint["state_dict"]["model.rel_emb.weight"][1, 3] = float("nan")
    path = tmp_path / "nan.ckpt"
    torch.save(checkpoint, path)
    return path


TEACHER_CASES = [
    ("missing", lambda e, t: t / "no.ckpt", [], "teacher checkpoint not found: {ckpt}"),
    ("empty", _empty, [], "teacher checkpoint {ckpt} is empty"),
    ("truncated", _truncated, [], "teacher checkpoint {ckpt} is truncated or not a PyTorch checkpoint"),
    ("corrupt", _garbage, [], "teacher checkpoint {ckpt} is truncated or not a PyTorch checkpoint"),
    ("other family (NeuralKG layout)", _other_family, [], "teacher checkpoint {ckpt} does not hold ComplEx weights (it looks like TransH"),
    ("other family (our layout)", lambda e, t: e.teacher, ["--teacher_model", "RotatE"], "teacher checkpoint {ckpt} holds a ComplEx model, but the run asks for RotatE"),
    ("other entity count", _other_counts, [], "teacher checkpoint {ckpt} has 50 entities, the dataset has 60"),
    ("other relation count", _other_counts_with_config, [], "teacher checkpoint {ckpt} was trained on 60 entities / 7 relations, the dataset has 60 / 4"),
    ("dimension contradicts --teacher_dim", lambda e, t: e.teacher, ["--teacher_dim", "32"], "teacher checkpoint {ckpt} has dimension 16, but the flags say 32"),
    ("non-finite weights", _nan_weights, [], "teacher checkpoint {ckpt}: rel_emb.weight holds NaN or infinite values"),
    ("weights that are not tensors", _not_a_tensor, [], "teacher checkpoint {ckpt}: model.ent_emb.weight is a list, not a tensor"),
    ("malformed config", _malformed_config, [], "teacher checkpoint {ckpt}: its neuralkg_distil entry is malformed"),
]


@pytest.mark.parametrize("case", TEACHER_CASES, ids=[c[0] for c in TEACHER_CASES])
def test_bad_teacher_checkpoint(case, earlier: Earlier, tmp_path: Path, capsys) -> None:
    _, make, flags, expected = case
    ckpt = make(earlier, tmp_path)
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *DISTIL, "--teacher_ckpt", str(ckpt), *flags,
                     "--run_dir", str(earlier.distil_run), "--overwrite")
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, expected.format(ckpt=ckpt))
    assert earlier.snapshot() == before


def test_stage2_without_stage1_checkpoint(earlier: Earlier, tmp_path: Path, capsys) -> None:
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *DISTIL, "--stage", "2", "--run_dir", str(tmp_path / "fresh"))
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, f"stage 2 needs a stage-1 checkpoint: none at {tmp_path / 'fresh' / 'stage1' / 'best.ckpt'}")
    assert earlier.snapshot() == before and not (tmp_path / "fresh").exists()


def test_student_not_smaller_than_teacher_warns(earlier: Earlier, tmp_path: Path, capsys) -> None:
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *DISTIL, "--emb_dim", "16", "--teacher_ckpt", str(earlier.teacher),
                     "--run_dir", str(tmp_path / "same_dim"))
    rc, err = _run(argv, capsys)
    assert rc == 0, err
    assert ("neuralkg-distil: warning: student dimension 16 (--emb_dim) is not smaller than the teacher's 16: "
            "nothing is compressed") in err
    assert (tmp_path / "same_dim" / "stage1" / "results.json").is_file()
    assert earlier.snapshot() == before


# ------------------------------------------------------------------- --test_only and --resume
def _plain_state_dict(earlier: Earlier, tmp_path: Path) -> Path:
    path = tmp_path / "plain.ckpt"
    torch.save({k: v for k, v in torch.load(earlier.teacher, weights_only=True)["state_dict"].items()}, path)
    return path


def _weights_only(earlier: Earlier, tmp_path: Path) -> Path:
    path = tmp_path / "weights.ckpt"
    torch.save({"state_dict": torch.load(earlier.teacher, weights_only=True)["state_dict"]}, path)
    return path


TEST_ONLY_CASES = [
    ("missing", lambda e, t: t / "no.ckpt", "--checkpoint_dir checkpoint not found: {ckpt}"),
    ("plain state dict", _plain_state_dict, "--checkpoint_dir checkpoint {ckpt} has no state_dict"),
    ("other dimension", lambda e, t: e.teacher,
     "--checkpoint_dir checkpoint {ckpt}: model.ent_emb.weight has shape (60, 32), the run's flags give (60, 16)"),
]


@pytest.mark.parametrize("case", TEST_ONLY_CASES, ids=[c[0] for c in TEST_ONLY_CASES])
def test_bad_test_only_checkpoint(case, earlier: Earlier, tmp_path: Path, capsys) -> None:
    _, make, expected = case
    ckpt = make(earlier, tmp_path)
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--test_only", "--checkpoint_dir", str(ckpt),
                     "--run_dir", str(earlier.teacher_run), "--overwrite")
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, expected.format(ckpt=ckpt))
    assert earlier.snapshot() == before


def test_test_only_keeps_the_checkpoint_it_tests(earlier: Earlier, tmp_path: Path, capsys) -> None:
    run = tmp_path / "copy"
    shutil.copytree(earlier.teacher_run, run)
    checkpoints = {p: p.read_bytes() for p in (run / "pretrain").glob("*.ckpt")}
    argv = cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--emb_dim", "16", "--test_only",
                     "--checkpoint_dir", str(run / "pretrain" / "best.ckpt"), "--run_dir", str(run), "--overwrite")
    rc, err = _run(argv, capsys)
    assert rc == 0, err
    assert {p: p.read_bytes() for p in (run / "pretrain").glob("*.ckpt")} == checkpoints
    tested = json.loads((run / "pretrain" / "results.json").read_text())
    trained = json.loads((earlier.teacher_run / "pretrain" / "results.json").read_text())
    assert tested["models"]["model"]["test"] == trained["models"]["model"]["test"]


RESUME_CASES = [
    ("another run's checkpoint", lambda e, t: e.teacher,
     "checkpoint to resume {ckpt}: model.ent_emb.weight has shape (60, 32), the run's flags give (60, 16)"),
    ("weights without training state", _weights_only,
     "checkpoint to resume {ckpt} holds no training state (no pytorch-lightning_version, epoch, global_step, loops, "
     "optimizer_states): only a last.ckpt written by a run can be resumed"),
]


@pytest.mark.parametrize("case", RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_bad_checkpoint_to_resume(case, earlier: Earlier, tmp_path: Path, capsys) -> None:
    _, make, _expected = case
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    last = run / "pretrain" / "last.ckpt"
    shutil.copyfile(make(earlier, tmp_path), last)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    rc, err = _run(cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--resume", "--run_dir", str(run)), capsys)
    _assert_one_line_error(rc, err, _expected.format(ckpt=last))
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------------------------------- flags
FLAG_CASES = [
    ("alpha above 1", DISTIL, ["--alpha", "1.5"], "--alpha must lie in [0, 1], got 1.5"),
    ("beta below 0", DISTIL, ["--beta", "-0.1"], "--beta must lie in [0, 1], got -0.1"),
    ("unknown model", PRETRAIN, ["--model_name", "NoSuchModel"], "unknown model 'NoSuchModel' (--model_name / --teacher_model); NeuralKG knows: "),
    ("unknown teacher model", DISTIL, ["--teacher_model", "TransEE"], "unknown model 'TransEE'"),  # "Transe" is TransE (names are case-insensitive)
    ("unknown loss (pretraining)", PRETRAIN, ["--loss_name", "AdvLoss"], "unknown --loss_name 'AdvLoss'; valid: Adv_Loss,"),
    ("unknown loss (distillation)", DISTIL, ["--loss_name", "DualDELoss"], "unknown --loss_name 'DualDELoss'; NeuralKG knows: "),
    ("unknown sampler", PRETRAIN, ["--train_sampler_class", "Uni"], "unknown --train_sampler_class 'Uni'; valid: "),
    ("unknown test sampler", PRETRAIN, ["--test_sampler_class", "Test"], "unknown --test_sampler_class 'Test'; valid: "),
    ("unknown lit model", PRETRAIN, ["--litmodel_name", "KGELit"], "unknown --litmodel_name 'KGELit'; valid: "),
    ("zero batch size", PRETRAIN, ["--train_bs", "0"], "--train_bs is 0: set the training batch size"),
    ("negative batch size", PRETRAIN, ["--train_bs", "-8"], "--train_bs must be >= 0, got -8"),
    ("zero eval batch size", PRETRAIN, ["--eval_bs", "0"], "--eval_bs must be positive, got 0"),
    ("zero epochs", PRETRAIN, ["--max_epochs", "0"], "--max_epochs must be positive, got 0"),
    ("negative epochs", PRETRAIN, ["--max_epochs", "-2"], "--max_epochs must be positive, got -2"),
    ("zero negatives", PRETRAIN, ["--num_neg", "0"], "--num_neg must be positive, got 0"),
    ("negative negatives", PRETRAIN, ["--num_neg", "-4"], "--num_neg must be positive, got -4"),
    ("zero dimension", PRETRAIN, ["--emb_dim", "0"], "--emb_dim must be positive, got 0"),
    ("negative teacher dimension", DISTIL, ["--teacher_dim", "-16"], "--teacher_dim must be positive, got -16"),
    ("negative chunk size", PRETRAIN, ["--neg_chunk_size", "-1"], "--neg_chunk_size must be >= 0, got -1"),
    ("zero learning rate", PRETRAIN, ["--lr", "0"], "--lr must be positive, got 0.0"),
    ("unknown optimizer", PRETRAIN, ["--optim_name", "Adamm"], "unknown --optim_name 'Adamm'; valid: "),
    ("more batches than triples", PRETRAIN, ["--train_bs", "0", "--num_batches", "100000"],
     "--num_batches 100000 is more than the "),
    ("trainer flag Lightning refuses", PRETRAIN, ["--precision", "7"], "Lightning refuses the trainer flags: "),
    ("resume and test_only", PRETRAIN, ["--resume", "--test_only"], "--resume continues training; --test_only does not train"),
]


@pytest.mark.parametrize("case", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_bad_flag(case, earlier: Earlier, capsys) -> None:
    _, base, flags, expected = case
    run = earlier.distil_run if base is DISTIL else earlier.teacher_run
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *base, "--teacher_ckpt", str(earlier.teacher), *flags,
                     "--run_dir", str(run), "--overwrite")
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, expected)
    assert earlier.snapshot() == before


def test_valid_names_are_listed(earlier: Earlier, capsys) -> None:
    rc, err = _run(cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--train_sampler_class", "Uni"), capsys)
    listed = err.strip().rsplit("valid: ", 1)[1].split(", ")
    assert rc == 2 and "UniSampler" in listed and "TorchUniSampler" in listed
    assert "KGData" not in listed and "ddict" not in listed  # helpers in the namespace are no answer
    rc, err = _run(cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--model_name", "X"), capsys)
    assert {"TransE", "ComplEx", "RotatE"} <= set(err.strip().rsplit("knows: ", 1)[1].split(", "))


# ------------------------------------------------------------------------------ earlier runs
def test_earlier_run_is_kept_without_overwrite(earlier: Earlier, capsys) -> None:
    before = earlier.snapshot()
    argv = cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--run_dir", str(earlier.teacher_run))
    rc, err = _run(argv, capsys)
    _assert_one_line_error(rc, err, f"{earlier.teacher_run / 'pretrain'} already holds an earlier run (results.json); pass --overwrite")
    rc, err = _run(argv + ["--resume"], capsys)
    _assert_one_line_error(rc, err, "holds a finished run (results.json); nothing to resume")
    rc, err = _run(argv + ["--resume", "--overwrite"], capsys)
    _assert_one_line_error(rc, err, "--resume and --overwrite contradict each other")
    assert earlier.snapshot() == before


def test_overwrite_replaces_the_earlier_run(earlier: Earlier, tmp_path: Path, capsys) -> None:
    run = tmp_path / "again"
    shutil.copytree(earlier.teacher_run, run)
    old = json.loads((run / "pretrain" / "results.json").read_text())
    rc, err = _run(cli_flags(earlier.graph, earlier.out, *PRETRAIN, "--seed", "11", "--run_dir", str(run), "--overwrite"), capsys)
    assert rc == 0, err
    new = json.loads((run / "pretrain" / "results.json").read_text())
    assert new["seed"] == 11 and old["seed"] == 7 and new["models"]["model"]["emb_dim"] == 8


@pytest.mark.slow  # a real process: run by make test and CI
def test_bad_input_from_a_real_process(earlier: Earlier, tmp_path: Path) -> None:
    """The installed entry point: exit status 2 and one stderr line, no traceback."""
    import subprocess
    import sys

    from conftest import REPO

    data = _copy_graph(earlier, tmp_path, _non_utf8)
    proc = subprocess.run([sys.executable, "main.py", *cli_flags(data, tmp_path / "out", *PRETRAIN)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"neuralkg-distil: error: {data}/train.txt:5: not UTF-8 (byte 0xe9 at column 1); save the file as UTF-8"
    )
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()

