"""Registration in NeuralKG's name spaces, the dgl stand-in, and the CLI's flags."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from neuralkg.utils.tools import import_class

from neuralkg_distil.cli.parser import build_parser
from neuralkg_distil.plugin.classes import register_all
from neuralkg_distil.plugin.namespaces import REGISTERED, register, registered_names

from conftest import REPO


@pytest.mark.parametrize(
    "path",
    [
        "neuralkg.lit_model.KGDistillLitModel",
        "neuralkg.lit_model.distil_KGELitModel",
        "neuralkg.loss.DistilE_Loss",
        "neuralkg.loss.DualDE_Loss",
        "neuralkg.data.TorchUniSampler",
    ],
)
def test_names_resolve_through_neuralkg_import_class(path):
    cls = import_class(path)
    assert REGISTERED[tuple(path.split(".")[1:])] is cls


def test_registration_is_idempotent_and_protects_neuralkg_names():
    before = dict(REGISTERED)
    register_all()
    register_all()
    assert REGISTERED == before
    import neuralkg.loss  # noqa: F401

    class Adv_Loss:  # noqa: N801 - clashes with NeuralKG's own class on purpose
        pass

    with pytest.raises(ValueError, match="already exists"):
        register("loss", Adv_Loss)
    assert "DualDE_Loss" in registered_names("loss")


def test_alias_is_the_same_class():
    assert import_class("neuralkg.lit_model.distil_KGELitModel") is import_class("neuralkg.lit_model.KGDistillLitModel")


def test_every_neuralkg_flag_keeps_its_name_and_default():
    from neuralkg.utils import setup_parser

    theirs = {tuple(a.option_strings): a for a in setup_parser()._actions}
    ours = {tuple(a.option_strings): a for a in build_parser()._actions}
    assert set(theirs) <= set(ours)  # every NeuralKG flag, under its own names
    for options, action in theirs.items():
        assert ours[options].dest == action.dest, options
        assert ours[options].default == action.default, options
    defaults = build_parser().parse_args([])
    assert defaults.stage == 1 and not defaults.stage2 and defaults.teacher_ckpt is None
    assert defaults.alpha == 0.5 and defaults.beta == 0.5 and defaults.soft_weighting is None
    assert defaults.accelerator is None and defaults.devices is None  # resolved to auto / 1 at run time
    # NeuralKG's own scripts abbreviate --loss_name as --loss: no flag of ours may make that ambiguous
    assert build_parser().parse_args(["--loss", "Adv_Loss"]).loss_name == "Adv_Loss"
    args = build_parser().parse_args(["--stage2", "--teacher_dim", "500", "--soft_weighting", "adaptive", "--lr", "1e-4"])
    assert args.stage2 and args.teacher_dim == 500 and args.soft_weighting == "adaptive" and args.lr == 1e-4


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_broken_dgl_is_harmless_until_a_gnn_model_is_built():
    # A dgl whose import fails (as on Python 3.12 with torch >= 2.3) must not stop anything.
    proc = _run_python(
        """
        import sys, types
        class Broken(types.ModuleType):
            def __getattr__(self, name):
                raise OSError("libdgl.so: cannot open shared object file")
        import importlib.abc, importlib.machinery
        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "dgl" or name.startswith("dgl."):
                    raise OSError("libdgl.so: cannot open shared object file")
        sys.meta_path.insert(0, Finder())
        import neuralkg_distil
        from neuralkg_distil.compat import dgl_available, DGLUnavailableError
        from neuralkg.utils.tools import import_class
        assert not dgl_available()
        assert import_class("neuralkg.loss.DualDE_Loss").__name__ == "DualDE_Loss"
        import argparse, neuralkg.data
        assert hasattr(neuralkg.data, "UniSampler")
        rgcn = import_class("neuralkg.model.RGCN")
        args = argparse.Namespace(num_ent=5, num_rel=2, emb_dim=4, num_layers=2, model_name="RGCN")
        try:
            rgcn(args)
        except DGLUnavailableError as exc:
            print("CLEAR:", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CLEAR: dgl is not usable here" in proc.stdout
    assert "GNN models" in proc.stdout
