"""Compiled CPU kernels (numba): one lazy loader, the switch, thread control and the tile sizing that
every kernel shares.

The kernels live beside what they compute (the evaluation stream in
:mod:`neuralkg_distil.evaluation.numba_kernels`, RotH's top-k in :mod:`neuralkg_distil.kge.roth_numba`);
the primitives they share in :mod:`neuralkg_distil.kernels.tiles`. numba is an optional dependency
(``requirements.txt``): without it, or with ``NEURALKG_DISTIL_KERNELS=0``, :func:`available` is False
and callers run their torch path.
"""
from __future__ import annotations

import importlib
import os
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Dict, Iterator, Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ["available", "unavailable_reason", "load", "torch_threads", "tile_width", "as_float32"]

_lock = threading.RLock()  # reentrant: a kernel module may itself load another while being imported
_numba: Optional[ModuleType] = None
_modules: Dict[str, ModuleType] = {}
_failures: Dict[str, str] = {}  # "numba" or a kernel module -> why it cannot be imported (tried once)


def _import(name: str) -> Optional[ModuleType]:
    """``name`` imported once; None, and the reason kept, where that fails (numba missing or unusable, a
    kernel module whose ``@njit(cache=True)`` finds no writable cache folder, ...): the torch paths run."""
    found = _modules.get(name)
    if found is not None or name in _failures:
        return found
    with _lock:
        if name not in _modules and name not in _failures:
            try:
                _modules[name] = importlib.import_module(name)
            except Exception as exc:
                _failures[name] = f"{type(exc).__name__}: {exc}"
    return _modules.get(name)


def _switched_off() -> bool:
    return os.environ.get("NEURALKG_DISTIL_KERNELS", "1").strip().lower() in ("0", "false", "no", "off")


def available(module: Optional[str] = None) -> bool:
    """Whether the kernels can run here (numba importable, not switched off) and, given ``module`` (a dotted
    name), that kernel module imports too."""
    if _switched_off() or _import("numba") is None:
        return False
    return module is None or _import(module) is not None


def unavailable_reason(module: Optional[str] = None) -> Optional[str]:
    """Why :func:`available` is False (None when it is True)."""
    if _switched_off():
        return "switched off by NEURALKG_DISTIL_KERNELS=0"
    if not available(module):
        return _failures.get("numba") or (_failures.get(module) if module else None)
    return None


def load(module: str) -> ModuleType:
    """The kernel module ``module`` (dotted name), imported on first use: numba compiles its functions on
    their first call and caches them on disk. Check :func:`available` (with ``module``) first."""
    assert available(module), f"check available({module!r}) first: {unavailable_reason(module)}"
    return _modules[module]


@contextmanager
def torch_threads() -> Iterator[None]:
    """A kernel call on as many numba threads as torch has, and torch's count as it was afterwards: numba's
    OpenMP pool can share torch's OpenMP runtime and reset its thread count (measured: 1 -> 2 after the
    first call), which would oversubscribe one-thread grid jobs."""
    numba = _import("numba")
    assert numba is not None, "check available() first"
    threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def tile_width(dim: int) -> int:
    """Entities per tile for ``dim``-wide columns: about 256 KiB of columns (L2-resident across a group of
    queries), a multiple of 16 so the vector loops have no remainder on full tiles."""
    return int(min(4096, max(256, (65536 // max(1, dim)) // 16 * 16)))


def as_float32(t: Tensor) -> np.ndarray:
    """A contiguous float32 numpy copy (or view) of ``t`` on the CPU, detached: what the kernels take."""
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
