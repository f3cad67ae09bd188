"""DistMult (Yang et al., 2015): ``sum_i h_i r_i t_i``; its fast scorer and adapter.

This file is the whole of DistMult's fast path, and the template for a new model: a scorer
class (here three lines of maths on top of :class:`~neuralkg_distil.kge.scoring._BilinearScorer`),
an adapter that names the NeuralKG class and describes its tables, and the registration at the
bottom. ``neuralkg_distil/kge/__init__.py`` imports this module; ``tests/test_kge_adapters.py``
holds its ``KgeAdapterCase``.
"""
from __future__ import annotations

from neuralkg_distil.kge.adapter import CROSS_ENTROPY, KgeAdapter, SUM, register_adapter
from neuralkg_distil.kge.scoring import _BilinearScorer

__all__ = ["DistMultScorer", "DistMultAdapter"]


class DistMultScorer(_BilinearScorer):
    """DistMult: ``(h * r) @ E^T`` and ``(r * t) @ E^T``."""

    def _tail_terms(self, ent, rel):
        return [(ent("ent_emb") * rel("rel_emb"), "ent_emb")]

    def _head_terms(self, ent, rel):
        return [(rel("rel_emb") * ent("ent_emb"), "ent_emb")]


class DistMultAdapter(KgeAdapter):
    """DistMult in NeuralKG: ``neuralkg.model.DistMult``, one entity and one relation table."""

    name = "DistMult"  # the NeuralKG class; subclasses that keep its scoring methods share the adapter
    scorer = DistMultScorer  # None would leave DistMult on NeuralKG's get_score / forward
    tables = {"ent_emb": 1, "rel_emb": 1}  # nn.Embedding -> columns per dimension (N3 sums them in this order)
    entity_tables = ("ent_emb",)  # an entity's vector (DualDE's structure term, serving)
    loss_family = CROSS_ENTROPY  # a bilinear score: DistilE's logistic / cross-entropy terms
    paper_negatives = 25  # negatives per triple in the benchmarks
    score_form = SUM  # --soft_label_scale dim: how the score grows with the dimension
    separable_coordinates = True  # a sum of per-coordinate terms: `neuralkg-distil inherit` can slice it


register_adapter(DistMultAdapter())
