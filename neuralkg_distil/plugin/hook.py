"""Register our classes in NeuralKG's name spaces when ``neuralkg`` is imported, not before.

``import neuralkg`` costs seconds (torch, Lightning, NeuralKG's models); a command that only
prints help or fetches data should not pay for it. :func:`install` (called on ``import
neuralkg_distil``) registers at once when ``neuralkg`` is already loaded, and otherwise puts a
one-shot finder on ``sys.meta_path``: it installs the dgl stand-in before ``neuralkg`` runs and
registers right after. When the import of ``neuralkg`` comes from inside one of our own modules
(whose classes are then half-defined), registration waits for the first look-up of a name in
``neuralkg.model`` / ``loss`` / ``lit_model`` / ``data`` (a module ``__getattr__``).
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional

_done = False
_NAMESPACES = ("model", "loss", "lit_model", "data")


def register() -> None:
    """Import NeuralKG (dgl stand-in first) and register our classes; idempotent."""
    global _done
    if _done:
        return
    from neuralkg_distil.compat import ensure_optional_imports

    ensure_optional_imports()
    from neuralkg_distil.plugin.classes import register_all

    _done = True
    try:
        register_all()
    except BaseException:
        _done = False
        raise


def _ours_initializing() -> bool:
    """True while one of our modules is half-imported (its classes cannot be registered yet)."""
    for name, module in list(sys.modules.items()):
        if name.startswith("neuralkg_distil.") and name != __name__:
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "_initializing", False):
                return True
    return False


def _defer() -> None:
    """Register on the first look-up of an unknown name in NeuralKG's name spaces."""
    for namespace in _NAMESPACES:
        module = sys.modules.get(f"neuralkg.{namespace}")
        if module is None or "__getattr__" in vars(module):
            continue

        def __getattr__(name: str, _module: ModuleType = module) -> Any:  # noqa: N807 (PEP 562)
            if name.startswith("__") or _done or _ours_initializing():
                raise AttributeError(f"module {_module.__name__!r} has no attribute {name!r}")
            register()
            return getattr(_module, name)

        module.__getattr__ = __getattr__  # type: ignore[attr-defined]


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec: Any) -> Optional[ModuleType]:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        if _ours_initializing():
            _defer()
        else:
            register()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "neuralkg":
            return None
        _uninstall()
        from neuralkg_distil.compat import ensure_optional_imports

        ensure_optional_imports()  # NeuralKG imports dgl at import time
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def install() -> None:
    """Register now if ``neuralkg`` is loaded, else when it is imported."""
    if "neuralkg" in sys.modules:
        register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
