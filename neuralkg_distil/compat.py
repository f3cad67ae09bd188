"""Make ``import neuralkg`` work where dgl (or IPython) is missing or broken.

NeuralKG imports dgl and IPython at import time although its KGE models never use them.
No dgl wheel works with torch >= 2.3 on Python 3.12, so on such machines we put a stand-in
module in ``sys.modules`` that imports cleanly and raises a clear error the moment a GNN
model actually touches it.
"""
from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any, Optional

DGL_HINT = (
    "dgl is not usable here ({reason}); NeuralKG's GNN models (RGCN, CompGCN, KBAT, XTransE) "
    "need it: install dgl==1.1.3 on Python 3.11 with torch 2.x. The KGE models and "
    "neuralkg-distil do not need dgl."
)

_dgl_problem: Optional[str] = None


class DGLUnavailableError(ImportError):
    """Raised when code reaches for dgl on a machine where it could not be imported."""


class _MissingDGL:
    """Stands in for any dgl attribute; fails with a clear message when used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, item: str) -> "_MissingDGL":
        if item.startswith("__"):
            raise AttributeError(item)
        return _MissingDGL(f"{self._name}.{item}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise DGLUnavailableError(DGL_HINT.format(reason=_dgl_problem) + f" (used: {self._name})")

    def __repr__(self) -> str:
        return f"<missing dgl: {self._name}>"


class _MissingModule(types.ModuleType):
    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        return _MissingDGL(f"{self.__name__}.{item}")


def _install_stub(root: str, submodules: tuple[str, ...]) -> None:
    for name in list(sys.modules):
        if name == root or name.startswith(root + "."):
            del sys.modules[name]
    for name in (root,) + tuple(f"{root}.{s}" for s in submodules):
        module = _MissingModule(name)
        module.__path__ = []  # a package, so "import dgl.nn.pytorch" resolves to our stubs
        module.__neuralkg_distil_stub__ = True
        sys.modules[name] = module
    for name in submodules:
        parent, _, child = f"{root}.{name}".rpartition(".")
        setattr(sys.modules[parent], child, sys.modules[f"{root}.{name}"])


def ensure_optional_imports() -> Optional[str]:
    """Import dgl and IPython if they work; otherwise install harmless stand-ins.

    Returns the reason dgl was replaced, or None when the real dgl is in use.
    """
    global _dgl_problem
    if "dgl" in sys.modules and getattr(sys.modules["dgl"], "__neuralkg_distil_stub__", False):
        return _dgl_problem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module("dgl")
    except Exception as exc:  # a broken dgl raises OSError, FileNotFoundError, ... not only ImportError
        _dgl_problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
        _install_stub("dgl", ("nn", "nn.pytorch", "function", "ops", "sparse"))
    try:
        importlib.import_module("IPython")
    except Exception:
        ipython = types.ModuleType("IPython")

        def embed(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("IPython is not installed; NeuralKG's debug hook embed() is unavailable")

        ipython.embed = embed  # type: ignore[attr-defined]
        # matplotlib (and others) probe sys.modules["IPython"].get_ipython(): "not in IPython".
        ipython.get_ipython = lambda: None  # type: ignore[attr-defined]
        ipython.version_info = (0, 0, 0, "neuralkg-distil stand-in")  # type: ignore[attr-defined]
        sys.modules["IPython"] = ipython
    return _dgl_problem


def dgl_available() -> bool:
    """True when the real dgl imported (not our stand-in)."""
    ensure_optional_imports()
    return _dgl_problem is None
