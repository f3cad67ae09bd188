"""ComplEx (Trouillon et al., 2016): ``Re(<h, r, conj(t)>)``; its fast scorer and adapter."""
from __future__ import annotations

import torch

from neuralkg_distil.kge.adapter import KgeAdapter, SUM, register_adapter
from neuralkg_distil.kge.scoring import _BilinearScorer

__all__ = ["ComplExScorer", "ComplExAdapter"]


class ComplExScorer(_BilinearScorer):
    """ComplEx: ``Re(<h, r, conj(t)>)`` as one real matrix product.

    Embeddings are stored as ``[real | imaginary]``; the query collects the
    coefficients of the candidate's real and imaginary halves.
    """

    def _tail_terms(self, ent, rel):
        h_re, h_im = torch.chunk(ent("ent_emb"), 2, dim=-1)
        r_re, r_im = torch.chunk(rel("rel_emb"), 2, dim=-1)
        return [(torch.cat([h_re * r_re - h_im * r_im, h_im * r_re + h_re * r_im], dim=-1), "ent_emb")]

    def _head_terms(self, ent, rel):
        t_re, t_im = torch.chunk(ent("ent_emb"), 2, dim=-1)
        r_re, r_im = torch.chunk(rel("rel_emb"), 2, dim=-1)
        return [(torch.cat([t_re * r_re + t_im * r_im, t_im * r_re - t_re * r_im], dim=-1), "ent_emb")]


class ComplExAdapter(KgeAdapter):
    """ComplEx: complex entities and relations, both ``[re | im]`` (2 columns per dimension)."""

    name = "ComplEx"
    scorer = ComplExScorer
    tables = {"ent_emb": 2, "rel_emb": 2}
    paper_negatives = 25
    score_form = SUM  # --soft_label_scale dim: how the score grows with the dimension
    separable_coordinates = True  # a sum of per-coordinate terms: `neuralkg-distil inherit` can slice it


register_adapter(ComplExAdapter())
