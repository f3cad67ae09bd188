"""A smaller model of the teacher's family made of the teacher's own coordinates (weight inheritance).

For a model whose score is a sum over coordinates of terms that each use one coordinate's columns
(``KgeAdapter.separable_coordinates``: TransE, RotatE, ComplEx, DistMult), the teacher restricted to
any ``d`` of its coordinates is a valid ``d``-dimensional model of the same family. :func:`inherit`
picks the ``d`` coordinates that separate the training triples from random corruptions best
(the mean of ``score_i(h, r, t) - score_i(h, r, t')`` over a sample, per coordinate ``i``) and
rescales them to the student's dimension:

* distance models (``gamma - sum_i d_i``): every table times ``D / d``, so the ``d`` distances sum to
  about what ``D`` did (NeuralKG initialises in ``+-(gamma + eps) / dim``; for RotatE the relation
  phases, ``rel / (range / pi)`` with ``range ~ 1 / dim``, stay the same angles);
* trilinear models (``sum_i h_i r_i t_i``): every table times ``(D / d) ** (1 / 3)``.

The student then trains as any pretraining does (``--init_ckpt``): its start is the teacher's view
on those coordinates, not a random one. Measured (docs/results.md, round 9): WN18RR ComplEx 64 ->
8 ends at 0.166 / 0.161 test MRR (two seeds) against 0.150 / 0.122 from a random start; at 16 dims,
for RotatE-8 and on FB15k-237 ComplEx it ends below the random start.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.kge.adapter import MARGIN_MINUS_SUM, SUM, adapter_for

__all__ = ["coordinate_columns", "scale_factor", "sliced_state", "separation", "inherit"]


def _check(model: nn.Module) -> object:
    adapter = adapter_for(model)
    if not getattr(adapter, "separable_coordinates", False) or adapter.score_form not in (MARGIN_MINUS_SUM, SUM):
        raise ConfigError(f"{type(model).__name__}: its score does not split into per-coordinate terms, so it has no "
                          "sub-model on a subset of coordinates (inheritable: TransE, RotatE, ComplEx, DistMult)")
    return adapter


def coordinate_columns(width: int, dim: int, coords: Tensor) -> Tensor:
    """Columns of coordinates ``coords`` in a table of ``width`` blocks of ``dim`` (``[re | im]``: 2)."""
    return torch.cat([coords + k * dim for k in range(width)])


def scale_factor(score_form: str, teacher_dim: int, dim: int) -> float:
    """What every inherited table is multiplied by (see the module's docstring)."""
    ratio = teacher_dim / dim
    return ratio if score_form == MARGIN_MINUS_SUM else ratio ** (1.0 / 3.0)


def sliced_state(teacher: nn.Module, student: nn.Module, coords: Tensor, factor: float) -> Dict[str, Tensor]:
    """``student``'s state dict with its tables taken from ``teacher``'s coordinates ``coords`` times
    ``factor``; everything else (margin, embedding range) stays the student's own."""
    adapter = _check(teacher)
    teacher_dim = _dim(teacher, adapter)
    state = {k: v.clone() for k, v in student.state_dict().items()}
    for table, width in adapter.tables.items():
        weight = getattr(teacher, table).weight.detach()
        cols = coordinate_columns(width, teacher_dim, coords.to(weight.device))
        key = f"{table}.weight"
        if state[key].shape != (weight.shape[0], cols.numel()):
            raise ConfigError(f"{table}: the student's table is {tuple(state[key].shape)}, the inherited columns "
                              f"make {(weight.shape[0], cols.numel())}")
        state[key] = (weight[:, cols] * factor).to(state[key].dtype).cpu()
    return state


def _dim(model: nn.Module, adapter: object) -> int:
    table = adapter.entity_tables[0]
    return getattr(model, table).weight.shape[1] // adapter.tables[table]


def _one_coordinate_models(teacher: nn.Module, spec: object) -> List[nn.Module]:
    from neuralkg_distil.kge.spec import build_model

    adapter = _check(teacher)
    teacher_dim = _dim(teacher, adapter)
    models = []
    for i in range(teacher_dim):
        one = build_model(replace(spec, emb_dim=1))
        one.load_state_dict(sliced_state(teacher, one, torch.tensor([i]), scale_factor(adapter.score_form, teacher_dim, 1)))
        models.append(one.eval())
    return models


@torch.no_grad()
def separation(teacher: nn.Module, spec: object, triples: Tensor, num_neg: int = 25, sample: int = 20000,
               seed: int = 0) -> Tensor:
    """Per teacher coordinate: mean ``score_i(true) - score_i(corrupted)`` over up to ``sample``
    training triples, ``num_neg`` random tails and heads each (higher: the coordinate ranks better)."""
    g = torch.Generator().manual_seed(seed)
    rows = triples[torch.randperm(triples.shape[0], generator=g)[:sample]]
    num_ent = int(spec.num_ent)
    tails = torch.randint(0, num_ent, (rows.shape[0], num_neg), generator=g)
    heads = torch.randint(0, num_ent, (rows.shape[0], num_neg), generator=g)
    out = []
    for one in _one_coordinate_models(teacher, spec):
        pos = one(rows).reshape(-1)
        neg_t = one(rows, tails, mode="tail-batch").reshape(rows.shape[0], -1).mean(1)
        neg_h = one(rows, heads, mode="head-batch").reshape(rows.shape[0], -1).mean(1)
        out.append((pos - (neg_t + neg_h) / 2).mean())
    return torch.stack(out)


def inherit(teacher: nn.Module, spec: object, dim: int, triples: Tensor, num_neg: int = 25, sample: int = 20000,
            seed: int = 0) -> Tuple[nn.Module, Tensor, Tensor]:
    """A ``dim``-dimensional model of ``teacher``'s family on its ``dim`` most separating coordinates.

    ``spec`` is the teacher's :class:`~neuralkg_distil.kge.spec.ModelSpec`; ``triples`` the training
    triples ``(N, 3)``. Returns the student, its coordinates (ascending) and every coordinate's
    separation."""
    from neuralkg_distil.kge.spec import build_model

    adapter = _check(teacher)
    teacher_dim = _dim(teacher, adapter)
    if not 0 < dim < teacher_dim:
        raise ConfigError(f"--emb_dim must lie in 1..{teacher_dim - 1} (below the teacher's {teacher_dim}), got {dim}")
    sep = separation(teacher, spec, triples, num_neg, sample, seed)
    coords = torch.sort(sep.topk(dim).indices).values
    student = build_model(replace(spec, emb_dim=dim))
    student.load_state_dict(sliced_state(teacher, student, coords, scale_factor(adapter.score_form, teacher_dim, dim)))
    return student, coords, sep
