"""Process-wide settings: CPU memory behaviour that makes training faster without changing any
result, the DDP rank, and SIGTERM handled like Ctrl-C by the commands that launch trainings."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import sys
import threading
from typing import Any, Iterator

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    Every training step frees and re-allocates tensors of tens of MB (an entity table's gradient,
    a batch of score rows); by default glibc hands that memory back (``brk``/``munmap``) and the
    next step pays page faults to get it again. On the 2-core CPU this was most of the time spent in
    the kernel: a WN18RR validation of ComplEx-64 took 6.3 s before and 3.1 s after. Only the
    allocator's bookkeeping changes, so results are identical. Returns whether it applied (glibc
    only; a no-op elsewhere).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum: blocks below it come from the heap
    ok &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    ok &= mallopt(_M_TOP_PAD, 256 * 1024 * 1024)
    return bool(ok)


def is_rank_zero() -> bool:
    """False in a worker process of a multi-process (DDP) run: Lightning starts the workers with
    ``LOCAL_RANK`` / ``NODE_RANK`` (torchrun: ``RANK``) set; only rank 0 writes and prints."""
    import os

    return all(os.environ.get(name, "0") in ("", "0") for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
