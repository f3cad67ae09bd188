"""Every registered distillation method runs the template of tests/cases.py; a toy method added in
this file alone (no other file changes) trains end to end through the CLI."""
from __future__ import annotations

import json

import pytest

from neuralkg_distil.methods.registry import grid_arms, method_named, registered_methods, resolve_method

from cases import DistillationMethodCase
from conftest import cli_flags


class TestDistilE(DistillationMethodCase):
    method_name = "DistilE"


class TestDualDE(DistillationMethodCase):
    method_name = "DualDE"


class TestIterDE(DistillationMethodCase):
    method_name = "IterDE"


class TestMulDE(DistillationMethodCase):
    method_name = "MulDE"


def test_every_registered_method_has_a_test_case():
    tested = {cls.method_name for cls in DistillationMethodCase.__subclasses__() if cls.method_name}
    missing = sorted(m.name for m in registered_methods() if m.name not in tested)
    assert not missing, f"registered methods without a test case in tests/test_methods.py: {missing}"


def test_the_losses_select_their_methods_and_others_fall_back():
    assert resolve_method("DistilE_Loss").name == "DistilE"
    assert resolve_method("DualDE_Loss").name == "DualDE"
    assert resolve_method("MulDE_Loss").name == "MulDE"
    assert resolve_method("Adv_Loss").name == "DualDE"  # not a distillation loss: the reference code's default


def test_unknown_loss_and_method_are_one_line_errors():
    from neuralkg_distil.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean DualDE_Loss"):
        resolve_method("DualDe_loss")
    with pytest.raises(ConfigError, match="registered: DistilE"):
        method_named("NoSuchDE")


def test_grid_arms_are_the_experiment_methods():
    from neuralkg_distil.experiment.config import methods

    assert set(grid_arms()) == {"DS", "-S1", "-S2", "IterDE", "MulDE"}
    assert methods() == ("teacher", "no-DS", "DS", "-S1", "-S2", "IterDE", "MulDE")


# --------------------------------------------------------------------------- a method in one file
def _toy_method():
    """A whole new method: a loss (soft labels only, no hard term) and its method entry."""
    from neuralkg_distil.methods.base import DistillationMethod
    from neuralkg_distil.methods.losses.base import DistillationLoss
    from neuralkg_distil.methods.losses.hard import logistic
    from neuralkg_distil.methods.losses.soft import probability_bce
    from neuralkg_distil.methods.losses.terms import ElementTerms, uniform_neg_weights

    class ToySoft_Loss(DistillationLoss):  # noqa: N801
        def element_terms(self, learner, label):
            hard_pos, hard_neg = logistic(learner.pos, learner.neg)
            return ElementTerms(soft_pos=probability_bce(learner.pos, label.pos),
                                soft_neg=probability_bce(learner.neg, label.neg),
                                hard_pos=hard_pos * 0, hard_neg=hard_neg * 0,
                                neg_weights=uniform_neg_weights(learner.neg, learner.neg_mask))

    class Toy(DistillationMethod):
        name = "Toy"
        loss_class = ToySoft_Loss
        arms = {}

    return Toy(), ToySoft_Loss


@pytest.fixture
def toy():
    from neuralkg_distil.methods.registry import register_method, unregister_method
    from neuralkg_distil.plugin.namespaces import register

    method, loss = _toy_method()
    register_method(method)
    register("loss", loss)
    yield method
    unregister_method(method.name)


class TestToy(DistillationMethodCase):
    method_name = "Toy"

    @pytest.fixture(autouse=True)
    def _registered(self, toy):
        yield


def test_a_toy_method_trains_end_to_end_and_its_checkpoint_names_it(toy, small_graph, tmp_path):
    from neuralkg_distil.checkpoint.files import read_checkpoint
    from neuralkg_distil.cli.main import main

    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx")
    assert main(flags + ["--emb_dim", "16", "--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss",
                         "--lr", "0.05", "--max_epochs", "6", "--run_dir", str(tmp_path / "t")]) == 0
    teacher = tmp_path / "t" / "pretrain" / "best.ckpt"
    assert main(flags + ["--emb_dim", "8", "--teacher_ckpt", str(teacher), "--litmodel_name", "KGDistillLitModel",
                         "--loss_name", "ToySoft_Loss", "--lr", "0.05", "--max_epochs", "6", "--run_dir", str(tmp_path / "d")]) == 0
    results = json.loads((tmp_path / "d" / "stage1" / "results.json").read_text())
    assert results["models"]["model"]["test"]["mrr"] > 0
    config = read_checkpoint(tmp_path / "d" / "stage1" / "best.ckpt")["neuralkg_distil"]
    assert config["method"] == "Toy" and config["loss"]["name"] == "ToySoft_Loss"
