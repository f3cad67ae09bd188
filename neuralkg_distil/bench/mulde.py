"""``python -m neuralkg_distil.bench mulde``: the parts of one MulDE training step on the CPU, each
scored whole (one tensor per pass over the batch, the junior's top-K sorted out of its full score matrix:
the reference) and as the scorers do now (cache-sized row blocks; a RotH junior's top-K by the fused
kernel of :mod:`neuralkg_distil.kge.roth_topk`), in the same run.

The parts, at WN18RR's size by default (40,943 entities, 11 relations, a batch of 1,024 queries, the
release's top 500): the junior's all-entity scores and top-K (RotH), the four teachers' scores on those
candidates (TransE, ComplEx, RotatE, RotH, without gradient), and the junior's own scores on them with
their backward. Random weights at each model's initialisation, except that the fused top-K prunes by
the junior's weights: ``--junior_scale`` and ``--junior_bias`` spread them as training does.
The last line is ``step_speedup=<sum of the reference times / sum of the blocked times>``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch

TEACHERS = ("TransE", "ComplEx", "RotatE", "RotH")


@contextmanager
def _whole_batches() -> Iterator[None]:
    """The reference: no row blocks anywhere (every pass over the whole batch)."""
    import neuralkg_distil.kge.roth as roth
    import neuralkg_distil.kge.scoring as scoring

    saved = roth.BLOCK_SCORES, scoring._TRAIN_BLOCK_ELEMENTS  # noqa: SLF001
    roth.BLOCK_SCORES, scoring._TRAIN_BLOCK_ELEMENTS = 1 << 62, 1 << 62  # noqa: SLF001
    try:
        with _no_kernels():  # and the top-K sorted out of the score matrix, not the fused kernel
            yield
    finally:
        roth.BLOCK_SCORES, scoring._TRAIN_BLOCK_ELEMENTS = saved  # noqa: SLF001


@contextmanager
def _no_kernels() -> Iterator[None]:
    """The fused CPU kernels switched off (``NEURALKG_DISTIL_KERNELS=0``) for the block."""
    kernels = os.environ.get("NEURALKG_DISTIL_KERNELS")
    os.environ["NEURALKG_DISTIL_KERNELS"] = "0"
    try:
        yield
    finally:
        if kernels is None:
            os.environ.pop("NEURALKG_DISTIL_KERNELS", None)
        else:
            os.environ["NEURALKG_DISTIL_KERNELS"] = kernels


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _model(name: str, dim: int, num_ent: int, num_rel: int) -> torch.nn.Module:
    import neuralkg_distil  # noqa: F401 (registers RotH in neuralkg.model)

    args = argparse.Namespace(emb_dim=dim, num_ent=num_ent, num_rel=num_rel, margin=6.0, epsilon=2.0, model_name=name)
    return getattr(importlib.import_module("neuralkg.model"), name)(args)


def parts(opts: argparse.Namespace) -> List[Tuple[str, Callable[[], object]]]:
    """``(label, one call)`` for each part of the step."""
    from neuralkg_distil.kge.scoring import train_scorer_for
    from neuralkg_distil.methods.mulde import junior_candidates

    g = torch.Generator().manual_seed(0)
    n, b = opts.num_ent, opts.batch
    pos = torch.stack([torch.randint(0, n, (b,), generator=g), torch.randint(0, opts.num_rel, (b,), generator=g),
                       torch.randint(0, n, (b,), generator=g)], 1)
    junior = _model(opts.junior, opts.junior_dim, n, opts.num_rel)
    with torch.no_grad():
        for name, p in junior.named_parameters():
            if opts.junior_scale is not None and name in ("ent_emb.weight", "rel_emb.weight"):
                p.normal_(0.0, opts.junior_scale, generator=g)
            if opts.junior_bias and name in ("ent_bh.weight", "ent_bt.weight"):
                p.normal_(0.0, opts.junior_bias, generator=g)
    cand = torch.randint(0, n, (b, opts.topk), generator=g)
    out: List[Tuple[str, Callable[[], object]]] = []
    for side in ("tail-batch", "head-batch"):
        def top_k(side: str = side) -> object:
            return junior_candidates(junior, pos, side, opts.topk)
        out.append((f"junior {opts.junior}-{opts.junior_dim} all-entity top-{opts.topk}, {side}", top_k))
    for name in TEACHERS:
        teacher = _model(name, opts.teacher_dim, n, opts.num_rel)

        def teach(teacher: torch.nn.Module = teacher) -> object:
            with torch.no_grad():
                return train_scorer_for(teacher).score_batch(pos, cand, "tail-batch")
        out.append((f"teacher {name}-{opts.teacher_dim} on the candidates", teach))

    def learn() -> object:
        junior.zero_grad(set_to_none=True)
        _, neg = train_scorer_for(junior).score_batch(pos, cand, "tail-batch")
        neg.logsumexp(1).sum().backward()
        return neg
    out.append((f"junior {opts.junior}-{opts.junior_dim} on the candidates, forward + backward", learn))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench mulde", description=__doc__.split("\n\n")[0])
    p.add_argument("--num_ent", type=int, default=40943, help="entities (WN18RR: 40943)")
    p.add_argument("--num_rel", type=int, default=11, help="relations (WN18RR: 11)")
    p.add_argument("--batch", type=int, default=1024, help="training queries per step")
    p.add_argument("--topk", type=int, default=500, help="the junior's candidates per query (--mulde_topk)")
    p.add_argument("--junior", default="RotH", help="the junior's model")
    p.add_argument("--junior_dim", type=int, default=32)
    p.add_argument("--teacher_dim", type=int, default=64)
    p.add_argument("--junior_scale", type=float, default=None,
                   help="std of the junior's entity and relation vectors (default: its initialisation)")
    p.add_argument("--junior_bias", type=float, default=0.0, help="std of the junior's biases (RotH; default 0, its init)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many calls per cell")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    opts = build_parser().parse_args(argv)
    torch.set_num_threads(opts.threads)
    rows = []
    for label, fn in parts(opts):
        fn()  # warm-up: allocator, lazy imports, the kernel's compile
        with _whole_batches():
            whole = _best(fn, opts.repeats)
        blocked = _best(fn, opts.repeats)
        rows.append((label, whole, blocked))
        line = f"{label:<62} whole {whole:7.3f} s   blocks {blocked:7.3f} s   x{whole / blocked:5.2f}"
        if "top-" in label:  # what the fused top-K adds over the blocked scores and a sort, in the same run
            with _no_kernels():
                sorted_blocks = _best(fn, opts.repeats)
            line += f"   (blocks, no fused top-K {sorted_blocks:7.3f} s)"
        print(line, flush=True)
    total_whole, total_blocked = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'all the parts (a step takes one side of the top-K)':<62} whole {total_whole:7.3f} s   blocks {total_blocked:7.3f} s")
    print(f"step_speedup={total_whole / total_blocked:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
