"""Every KGE adapter against a tiny NeuralKG model of its family (template: tests/cases.py).

A registered adapter without a case here fails :func:`test_every_adapter_has_a_case`.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cases import KgeAdapterCase
from neuralkg_distil.kge.adapter import GENERIC, KgeAdapter, adapter_for, register_adapter, registered_adapters


class TestTransE(KgeAdapterCase):
    adapter_name = "TransE"


class TestTransH(KgeAdapterCase):
    adapter_name = "TransH"


class TestTransHNormFlag(KgeAdapterCase):
    adapter_name = "TransH"
    spec_overrides = {"norm_flag": True}
    fused_kernel = False  # normalised projections: the torch path


class TestRotatE(KgeAdapterCase):
    adapter_name = "RotatE"


class TestComplEx(KgeAdapterCase):
    adapter_name = "ComplEx"


class TestDistMult(KgeAdapterCase):
    adapter_name = "DistMult"


class TestSimplE(KgeAdapterCase):
    adapter_name = "SimplE"


class TestTransR(KgeAdapterCase):
    adapter_name = "TransR"
    fused_kernel = False


class TestRotH(KgeAdapterCase):
    """Ours (neuralkg_distil.kge.roth), registered as neuralkg.model.RotH."""

    adapter_name = "RotH"
    fused_kernel = False


class TestGenericPairRE(KgeAdapterCase):
    """NeuralKG's PairRE has no adapter: the generic fallback (slow path) scores it."""

    adapter_name = GENERIC.name
    model_name = "PairRE"
    fused_kernel = False


def test_every_adapter_has_a_case() -> None:
    # Only classes pytest collects (named Test*) count.
    covered = {value.adapter_name for name, value in globals().items()
               if name.startswith("Test") and isinstance(value, type) and issubclass(value, KgeAdapterCase)}
    wanted = {adapter.name for adapter in registered_adapters()} | {GENERIC.name}
    assert wanted <= covered, f"adapters without a KgeAdapterCase in this file: {sorted(wanted - covered)}"


# What N3 has always summed, in its order (the order fixes the float sum bit for bit).
N3_TABLES = {
    "TransE": ["ent_emb", "rel_emb"], "TransH": ["ent_emb", "rel_emb"], "RotatE": ["ent_emb", "rel_emb"],
    "ComplEx": ["ent_emb", "rel_emb"], "DistMult": ["ent_emb", "rel_emb"], "TransR": ["ent_emb", "rel_emb"],
    "SimplE": ["rel_emb", "ent_h_emb", "ent_t_emb", "rel_inv_emb"],
}


@pytest.mark.parametrize("name", sorted(N3_TABLES))
def test_n3_tables_are_the_ones_it_always_summed(name: str) -> None:
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    model = build_model(ModelSpec(name, 4, 10, 3))
    tables = adapter_for(model).regularised_tables(model)
    assert [getattr(model, n) for n in N3_TABLES[name]] == tables


def test_subclasses_keep_or_lose_their_family() -> None:
    from neuralkg.model import DistMult

    class Plain(DistMult):
        pass

    class Shifted(DistMult):
        def get_score(self, batch, mode):
            return super().get_score(batch, mode) + 1.0

    assert adapter_for(Plain).name == "DistMult"
    assert adapter_for(Shifted) is GENERIC
    assert adapter_for("Plain") is GENERIC  # names are looked up exactly
    namesake = type("DistMult", (nn.Module,), {"__module__": "elsewhere"})
    assert adapter_for(namesake) is GENERIC


def test_register_adapter_checks_its_input() -> None:
    class Nameless(KgeAdapter):
        pass

    class BadFamily(KgeAdapter):
        name = "NoSuchModel"
        loss_family = "hinge"

    class OtherDistMult(KgeAdapter):
        name = "DistMult"

    for bad in (Nameless(), BadFamily(), OtherDistMult()):
        with pytest.raises(ValueError):
            register_adapter(bad)
    known = adapter_for("DistMult")
    assert register_adapter(known) is known  # registering the same adapter again is harmless
    assert registered_adapters().count(known) == 1


def test_generic_fallback_regularises_every_embedding_table() -> None:
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    model = build_model(ModelSpec("CrossE", 4, 10, 3))
    assert adapter_for(model) is GENERIC
    names = {name for name, m in model.named_modules() if isinstance(m, nn.Embedding)}
    assert len(names) == 5 and set(GENERIC.regularised_tables(model)) == {getattr(model, n) for n in names}
    assert torch.equal(GENERIC.entity_vectors(model, torch.tensor([1, 2])), model.ent_emb.weight[[1, 2]])
