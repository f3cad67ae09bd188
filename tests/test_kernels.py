"""The compiled kernels' loader (neuralkg_distil/kernels/): a kernel module that cannot be imported makes its
kernels unavailable, with the reason, and the torch paths run instead of an error."""
from __future__ import annotations

import pytest
import torch

from neuralkg_distil import kernels
from neuralkg_distil.kge.scoring import scorer_for
from neuralkg_distil.kge.spec import ModelSpec, build_model

pytestmark = pytest.mark.skipif(not kernels.available(), reason=f"numba unavailable: {kernels.unavailable_reason()}")


def test_a_module_that_fails_to_import_is_unavailable_with_its_reason():
    missing = "neuralkg_distil.kernels.no_such_module"
    assert kernels.available()  # numba itself is fine
    assert not kernels.available(missing)
    assert "ModuleNotFoundError" in kernels.unavailable_reason(missing)
    with pytest.raises(AssertionError, match="no_such_module"):
        kernels.load(missing)


def test_roth_top_k_falls_back_to_the_torch_path(monkeypatch):
    from neuralkg_distil.kge import roth_topk

    monkeypatch.setattr(roth_topk, "_MODULE", "neuralkg_distil.kernels.no_such_module")
    assert not roth_topk.available()
    torch.manual_seed(0)
    model = build_model(ModelSpec("RotH", 8, 300, 3))
    scorer = scorer_for(model)
    h, r = torch.randint(0, 300, (5,)), torch.randint(0, 3, (5,))
    with torch.no_grad():
        values, ids = scorer.topk_tails(h, r, 7)
        torch.testing.assert_close(values, scorer.score_tails(h, r).topk(7, dim=1).values)
        values, ids = scorer.topk_heads(r, h, 7)
        torch.testing.assert_close(values, scorer.score_heads(r, h).topk(7, dim=1).values)


def test_switched_off_names_the_variable(monkeypatch):
    monkeypatch.setenv("NEURALKG_DISTIL_KERNELS", "0")
    assert not kernels.available() and "NEURALKG_DISTIL_KERNELS=0" in kernels.unavailable_reason()
