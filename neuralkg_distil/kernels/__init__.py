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

_lock = threading.Lock()
_numba: Optional[ModuleType] = None
_failed: Optional[str] = None
_modules: Dict[str, ModuleType] = {}


def _numba_module() -> Optional[ModuleType]:
    """numba, imported once; None (and the reason kept) where it cannot be."""
    global _numba, _failed
    if _numba is None and _failed is None:
        with _lock:
            if _numba is None and _failed is None:
                try:
                    import numba

                    _numba = numba
                except Exception as exc:  # numba missing or unusable: the torch paths run
                    _failed = f"{type(exc).__name__}: {exc}"
    return _numba


def _switched_off() -> bool:
    return os.environ.get("NEURALKG_DISTIL_KERNELS", "1").strip().lower() in ("0", "false", "no", "off")


def available() -> bool:
    """Whether the kernels can run here (numba importable, not switched off)."""
    return not _switched_off() and _numba_module() is not None


def unavailable_reason() -> Optional[str]:
    """Why :func:`available` is False (None when it is True)."""
    if _switched_off():
        return "switched off by NEURALKG_DISTIL_KERNELS=0"
    return None if _numba_module() is not None else _failed


def load(module: str) -> ModuleType:
    """The kernel module ``module`` (dotted name), imported on first use: numba compiles its functions on
    their first call and caches them on disk. Check :func:`available` first."""
    assert available(), "check available() first"
    found = _modules.get(module)
    if found is None:
        with _lock:
            found = _modules.setdefault(module, importlib.import_module(module))
    return found


@contextmanager
def torch_threads() -> Iterator[None]:
    """A kernel call on as many numba threads as torch has, and torch's count as it was afterwards: numba's
    OpenMP pool can share torch's OpenMP runtime and reset its thread count (measured: 1 -> 2 after the
    first call), which would oversubscribe one-thread grid jobs."""
    numba = _numba_module()
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
