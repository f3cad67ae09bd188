"""TransR (Lin et al., 2015): an adapter without a fast scorer (NeuralKG's slow path scores it).

It exists for what the generic adapter would get wrong: TransR is a distance model trained with a
margin loss, its ``transfer_matrix`` holds ``dim x dim`` columns, and N3 has never covered it.
"""
from __future__ import annotations

from neuralkg_distil.kge.adapter import KgeAdapter, MARGIN, MARGIN_MINUS_SUM, register_adapter

__all__ = ["TransRAdapter"]


class TransRAdapter(KgeAdapter):
    """TransR: TransE's tables plus one projection matrix per relation; NeuralKG's own scoring."""

    name = "TransR"
    scorer = None
    tables = {"ent_emb": 1, "rel_emb": 1, "transfer_matrix": 1}
    unregularised = ("transfer_matrix",)
    loss_family = MARGIN
    score_form = MARGIN_MINUS_SUM  # --soft_label_scale dim: how the score grows with the dimension

    def expected_width(self, table: str, dim: int) -> int:
        """``transfer_matrix`` stores each relation's ``dim x dim`` matrix flattened."""
        return dim * dim if table == "transfer_matrix" else super().expected_width(table, dim)


register_adapter(TransRAdapter())
