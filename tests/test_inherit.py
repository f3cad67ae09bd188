"""Weight inheritance: a student made of a teacher's own coordinates (``neuralkg-distil inherit``)."""
from __future__ import annotations

import pytest
import torch

import neuralkg_distil
from neuralkg_distil.cli.main import main
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import MARGIN_MINUS_SUM, adapter_for, registered_adapters
from neuralkg_distil.kge.coordinates import inherit, scale_factor, separation, sliced_state
from neuralkg_distil.kge.spec import ModelSpec, build_model

from conftest import cli_flags

SEPARABLE = sorted(a.name for a in registered_adapters() if a.separable_coordinates)
D, NUM_ENT, NUM_REL = 12, 40, 3


def _teacher(name: str, seed: int = 0):
    torch.manual_seed(seed)
    spec = ModelSpec(name, D, NUM_ENT, NUM_REL, margin=6.0)
    model = build_model(spec).eval()
    with torch.no_grad():  # away from the initial range, so a wrong scale cannot pass by luck
        for p in model.parameters():
            if p.requires_grad:
                p.mul_(torch.empty_like(p).uniform_(0.5, 3.0))
    return model, spec


def _triples(n: int = 64, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, NUM_ENT, (n,), generator=g), torch.randint(0, NUM_REL, (n,), generator=g),
                        torch.randint(0, NUM_ENT, (n,), generator=g)], 1)


def _per_coordinate(model, spec, triples):
    """``(D, N)``: each coordinate's own term, from one-coordinate models (undoing their scale)."""
    adapter = adapter_for(model)
    terms = []
    for i in range(D):
        one = build_model(ModelSpec(spec.model_name, 1, NUM_ENT, NUM_REL, margin=6.0)).eval()
        one.load_state_dict(sliced_state(model, one, torch.tensor([i]), scale_factor(adapter.score_form, D, 1)))
        with torch.no_grad():
            s = one(triples).reshape(-1)
        terms.append((6.0 - s) / D if adapter.score_form == MARGIN_MINUS_SUM else s / D)
    return torch.stack(terms)


def test_the_separable_models_are_the_four_families():
    assert SEPARABLE == ["ComplEx", "DistMult", "RotatE", "TransE"]


@pytest.mark.parametrize("name", SEPARABLE)
def test_one_coordinate_models_add_up_to_the_teacher(name):
    """Slicing and scaling are exact: the teacher's score is the sum of its coordinates' terms."""
    model, spec = _teacher(name)
    triples = _triples()
    terms = _per_coordinate(model, spec, triples)
    with torch.no_grad():
        full = model(triples).reshape(-1)
    total = 6.0 - terms.sum(0) if adapter_for(model).score_form == MARGIN_MINUS_SUM else terms.sum(0)
    torch.testing.assert_close(total, full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", SEPARABLE)
def test_the_student_scores_its_coordinates_at_its_own_scale(name):
    model, spec = _teacher(name)
    triples = _triples()
    student, coords, sep = inherit(model, spec, 4, triples, num_neg=3, sample=32)
    assert coords.tolist() == sorted(sep.topk(4).indices.tolist()) and sep.shape == (D,)
    assert student.ent_emb.weight.shape[1] == adapter_for(model).tables["ent_emb"] * 4
    terms = _per_coordinate(model, spec, triples)[coords].sum(0) * (D / 4)  # the d terms at the student's scale
    with torch.no_grad():
        got = student(triples).reshape(-1)
    if adapter_for(model).score_form == MARGIN_MINUS_SUM:
        torch.testing.assert_close(got, 6.0 - terms, rtol=1e-4, atol=1e-4)
    else:
        torch.testing.assert_close(got, terms, rtol=1e-4, atol=1e-4)
    for key, value in student.state_dict().items():  # margin, embedding range: the student's own
        if not key.endswith(".weight"):
            fresh = build_model(ModelSpec(name, 4, NUM_ENT, NUM_REL, margin=6.0)).state_dict()[key]
            torch.testing.assert_close(value, fresh)


def test_the_coordinates_that_separate_true_triples_are_chosen():
    """DistMult on self-loops (h, r, h): a coordinate with entity values +-1 scores every true
    triple 1 and a random one 0 on average; the others are near 0 either way."""
    torch.manual_seed(0)
    spec = ModelSpec("DistMult", D, NUM_ENT, NUM_REL, margin=6.0)
    model = build_model(spec).eval()
    with torch.no_grad():
        model.ent_emb.weight.normal_(0, 0.01)
        model.rel_emb.weight.fill_(1.0)
        for i in (3, 8):
            model.ent_emb.weight[:, i] = torch.randint(0, 2, (NUM_ENT,)).float() * 2 - 1
    heads = torch.arange(NUM_ENT).repeat(3)
    triples = torch.stack([heads, torch.randint(0, NUM_REL, heads.shape), heads], 1)
    sep = separation(model, spec, triples, num_neg=10, sample=200)
    assert sep[3] > 0.7 and sep[8] > 0.7 and sep[[i for i in range(D) if i not in (3, 8)]].abs().max() < 0.01
    assert inherit(model, spec, 2, triples, num_neg=10, sample=200)[1].tolist() == [3, 8]


def test_models_whose_score_mixes_coordinates_are_refused():
    torch.manual_seed(0)
    spec = ModelSpec("TransH", D, NUM_ENT, NUM_REL, margin=6.0)
    with pytest.raises(ConfigError, match="does not split into per-coordinate terms"):
        inherit(build_model(spec), spec, 4, _triples())
    model, spec = _teacher("ComplEx")
    with pytest.raises(ConfigError, match="--emb_dim must lie in 1..11"):
        inherit(model, spec, D, _triples())


def test_inherit_command_writes_a_checkpoint_that_init_ckpt_trains_from(small_graph, tmp_path, capsys):
    teacher_flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--litmodel_name", "KGELitModel",
                              "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.01", "--max_epochs", "2")
    assert main(teacher_flags) == 0
    teacher = tmp_path / small_graph.name / "ComplEx_8" / "pretrain" / "best.ckpt"
    out = tmp_path / "student4.ckpt"
    assert main(["inherit", "--teacher_ckpt", str(teacher), "--emb_dim", "4", "--out", str(out), "--sample", "100"]) == 0
    assert "ComplEx 4 from the teacher's 8 dims" in capsys.readouterr().out

    handle = neuralkg_distil.load(out)  # self-describing: model, dimension and dataset from the file alone
    assert handle.spec.emb_dim == 4 and handle.spec.model_name == "ComplEx"
    recorded = torch.load(out, weights_only=True)["neuralkg_distil"]["inherit"]
    teacher_model = neuralkg_distil.load(teacher).model
    cols = torch.tensor(recorded["coordinates"])
    factor = scale_factor("sum", 8, 4)
    torch.testing.assert_close(handle.model.ent_emb.weight, teacher_model.ent_emb.weight[:, torch.cat([cols, cols + 8])] * factor)

    student_flags = cli_flags(small_graph, tmp_path / "s", "--model_name", "ComplEx", "--litmodel_name", "KGELitModel",
                              "--loss_name", "Adv_Loss", "--emb_dim", "4", "--lr", "0.01", "--max_epochs", "2",
                              "--init_ckpt", str(out))
    assert main(student_flags) == 0
    capsys.readouterr()

    def fails(argv, message):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("neuralkg-distil: error: ") and message in err[0], err

    fails(["inherit", "--teacher_ckpt", str(teacher), "--emb_dim", "4", "--out", str(out)], "exists")
    fails(["inherit", "--teacher_ckpt", str(teacher), "--emb_dim", "8", "--out", str(tmp_path / "x.ckpt")], "--emb_dim must lie in 1..7")
    fails(["inherit", "--teacher_ckpt", str(tmp_path / "none.ckpt"), "--emb_dim", "4", "--out", str(tmp_path / "y.ckpt")], "not found")
    assert not (tmp_path / "x.ckpt").exists() and not (tmp_path / "y.ckpt").exists()
