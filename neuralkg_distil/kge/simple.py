"""SimplE (Kazemi & Poole, 2018): CP with inverse relations; its fast scorer and adapter."""
from __future__ import annotations

import torch
from torch import Tensor

from neuralkg_distil.kge.adapter import KgeAdapter, SUM, register_adapter
from neuralkg_distil.kge.scoring import _BilinearScorer

__all__ = ["SimplEScorer", "SimplEAdapter"]


class SimplEScorer(_BilinearScorer):
    """SimplE: mean of the forward and inverse CP scores, clamped to [-20, 20]."""

    def _entity_tables(self) -> tuple[str, ...]:
        return ("ent_h_emb", "ent_t_emb")

    def _tail_terms(self, ent, rel):
        return [
            (ent("ent_h_emb") * rel("rel_emb"), "ent_t_emb"),
            (ent("ent_t_emb") * rel("rel_inv_emb"), "ent_h_emb"),
        ]

    def _head_terms(self, ent, rel):
        return [
            (rel("rel_emb") * ent("ent_t_emb"), "ent_h_emb"),
            (rel("rel_inv_emb") * ent("ent_h_emb"), "ent_t_emb"),
        ]

    def _finish(self, scores: Tensor) -> Tensor:
        return torch.clamp(scores / 2, -20, 20)

    kernel_post = (0.5, 0.0, -20.0, 20.0)  # _finish for the fused kernels (x / 2 == x * 0.5 exactly)




class SimplEAdapter(KgeAdapter):
    """SimplE: a head-role and a tail-role table per entity, a forward and an inverse one per relation."""

    name = "SimplE"
    scorer = SimplEScorer
    # Declaration order is N3's summation order (rel_emb first, as it always was): keep it.
    tables = {"rel_emb": 1, "ent_h_emb": 1, "ent_t_emb": 1, "rel_inv_emb": 1}
    entity_tables = ("ent_h_emb", "ent_t_emb")
    paper_negatives = 25
    score_form = SUM  # --soft_label_scale dim: how the score grows with the dimension


register_adapter(SimplEAdapter())
