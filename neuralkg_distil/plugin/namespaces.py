"""Register our classes in NeuralKG's name spaces so its lookups find them.

NeuralKG resolves names with ``import_class(f"neuralkg.loss.{name}")`` (importlib + getattr)
and ``getattr(neuralkg.loss, name)``; setting attributes on those modules is all it takes.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple

NAMESPACES = ("model", "loss", "lit_model", "data")

# (namespace, name) -> class, so tests and the CLI can list what this package added.
REGISTERED: Dict[Tuple[str, str], type] = {}


def register(namespace: str, cls: type, *aliases: str) -> type:
    """Expose ``cls`` as ``neuralkg.<namespace>.<cls.__name__>`` and under each alias.

    Idempotent: registering the same class again is a no-op; a different class under a taken
    name is an error, since silently shadowing one of NeuralKG's classes would change results.
    """
    if namespace not in NAMESPACES:
        raise ValueError(f"unknown NeuralKG namespace {namespace!r}; expected one of {NAMESPACES}")
    module = importlib.import_module(f"neuralkg.{namespace}")
    for name in (cls.__name__,) + aliases:
        existing = getattr(module, name, None)
        # A name we registered before (e.g. before a module reload) may be replaced.
        if existing is not None and existing is not cls and (namespace, name) not in REGISTERED:
            raise ValueError(f"neuralkg.{namespace}.{name} already exists and is not ours")
        setattr(module, name, cls)
        REGISTERED[(namespace, name)] = cls
    return cls


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
