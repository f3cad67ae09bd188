"""Setting our classes into NeuralKG's name spaces so its lookups find them (no registration logic).

NeuralKG resolves names with ``import_class(f"neuralkg.loss.{name}")`` (importlib + getattr)
and ``getattr(neuralkg.loss, name)``; setting attributes on those modules is all it takes.
This module imports nothing of ours, so :mod:`.classes` can use it while :mod:`.hook` and
:mod:`.namespaces` depend on :mod:`.classes` (no import cycle).
"""
from __future__ import annotations

import importlib
from typing import Dict, Tuple

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
