"""Names NeuralKG can resolve in its name spaces, ours registered first (for listings and error messages).

``register``, ``REGISTERED`` and ``NAMESPACES`` live in :mod:`.registry` and are re-exported here.
"""
from __future__ import annotations

import importlib
from typing import Any

from neuralkg_distil.plugin.registry import NAMESPACES, REGISTERED, register

__all__ = ["NAMESPACES", "REGISTERED", "register", "registered_names", "available_names"]


def registered_names(namespace: str) -> list[str]:
    """Names this package registered in ``neuralkg.<namespace>``."""
    _look_up(namespace)
    return sorted(name for (ns, name) in REGISTERED if ns == namespace)


def available_names(namespace: str, base: type | None = None) -> list[str]:
    """Every class name NeuralKG can resolve in a namespace (ours included), for error messages."""
    module = _look_up(namespace)
    names = []
    for name in dir(module):
        obj = getattr(module, name)
        if isinstance(obj, type) and not name.startswith("_") and (base is None or issubclass(obj, base)):
            names.append(name)
    return sorted(names)


def _look_up(namespace: str) -> Any:
    """``neuralkg.<namespace>``, after our classes are in it.

    Importing NeuralKG registers them (:mod:`neuralkg_distil.plugin.hook`), and where that had to
    wait, the first look-up of a name NeuralKG lacks does it: this is such a look-up.
    """
    module = importlib.import_module(f"neuralkg.{namespace}")
    getattr(module, "_neuralkg_distil_look_up", None)
    return module
