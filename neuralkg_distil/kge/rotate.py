"""RotatE (Sun et al., 2019): a rotation in the complex plane; its fast scorer and adapter."""
from __future__ import annotations

import torch
from torch import LongTensor, Tensor

from neuralkg_distil.kge.adapter import KgeAdapter, MARGIN_MINUS_SUM, register_adapter
from neuralkg_distil.kge.scoring import QueryForm, _BaseScorer, _lookup, _rows

__all__ = ["RotatEScorer", "RotatEAdapter"]

# NeuralKG's RotatE divides by embedding_range / pi with this literal; reuse
# it so phases agree bit for bit.
_PI = 3.14159265358979323846


class _ComplexModulusSum(torch.autograd.Function):
    """``sum_i |c_i - q_i|`` over complex coordinates stored as ``[real | imaginary]`` (broadcasting).

    NeuralKG's RotatE takes ``stack([re, im]).norm(dim=0)``: the same value, but PyTorch's CPU
    norm over the outermost dimension is very slow, and its backward is slow too. Like
    ``linalg_vector_norm``'s backward, the gradient is 0 where a modulus is 0 (no inf / NaN).
    """

    @staticmethod
    def forward(ctx, q: Tensor, cand: Tensor) -> Tensor:  # type: ignore[override]
        diff = cand - q
        half = diff.shape[-1] // 2
        sq = diff * diff
        modulus = torch.add(sq[..., :half], sq[..., half:]).sqrt_()
        del sq
        ctx.save_for_backward(diff, modulus)
        ctx.shapes = (q.shape, cand.shape)
        return modulus.sum(-1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        diff, modulus = ctx.saved_tensors
        q_shape, cand_shape = ctx.shapes
        coef = (grad.unsqueeze(-1) / modulus).masked_fill_(modulus == 0, 0)
        half = diff.shape[-1] // 2
        grad_diff = (diff.unflatten(-1, (2, half)) * coef.unsqueeze(-2)).flatten(-2)
        grad_q = grad_cand = None
        if ctx.needs_input_grad[0]:
            grad_q = grad_diff.sum_to_size(q_shape).neg()
        if ctx.needs_input_grad[1]:
            grad_cand = grad_diff.sum_to_size(cand_shape)
        return grad_q, grad_cand




class RotatEScorer(_BaseScorer):
    """RotatE: ``margin - sum_i |h_i * r_i - t_i|`` over complex coordinates.

    Because ``|r_i| = 1``, ``|e_i r_i - t_i| = |e_i - conj(r_i) t_i|``, so head
    prediction rotates the tail back once instead of rotating every entity;
    the result equals NeuralKG's ``head_predict`` up to rounding.
    """

    def _rotation(self, r: Tensor) -> tuple[Tensor, Tensor]:
        phase = self.model.rel_emb.weight[r] / (self.model.embedding_range.item() / _PI)
        return torch.cos(phase), torch.sin(phase)

    def _dist(self, q_re: Tensor, q_im: Tensor, entities: "slice | Tensor | None" = None) -> Tensor:
        e_re, e_im = torch.chunk(self._candidates(self.model.ent_emb.weight, entities), 2, dim=-1)
        rows, dim = q_re.shape
        step = self._entity_chunk(rows, dim)
        out = torch.empty(rows, e_re.shape[0], dtype=q_re.dtype, device=q_re.device)
        q_re, q_im = q_re.unsqueeze(1), q_im.unsqueeze(1)
        # In-place arithmetic saves two of the three chunk-sized temporaries
        # but would break autograd, so only use it when no graph is recorded.
        in_place = not (torch.is_grad_enabled() and (q_re.requires_grad or e_re.requires_grad))
        for i in range(0, e_re.shape[0], step):
            d_re = q_re - e_re[i : i + step].unsqueeze(0)
            d_im = q_im - e_im[i : i + step].unsqueeze(0)
            if in_place:
                d_re.square_().add_(d_im.square_()).sqrt_()
                torch.sum(d_re, dim=-1, out=out[:, i : i + step])
            else:
                out[:, i : i + step] = torch.sqrt(d_re * d_re + d_im * d_im).sum(dim=-1)
        return out

    def _queries(self, tails: bool, anchor: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        """``h * r`` (tails) or ``conj(r) * t`` (heads), as (real, imaginary)."""
        a_re, a_im = torch.chunk(self.model.ent_emb.weight[anchor], 2, dim=-1)
        cos, sin = self._rotation(r)
        if tails:
            return a_re * cos - a_im * sin, a_re * sin + a_im * cos
        return a_re * cos + a_im * sin, a_im * cos - a_re * sin

    def query_form(self, tails: bool, anchor: LongTensor, rel: LongTensor) -> QueryForm | None:
        """``margin - sum_i |q_i - e_i|`` over complex coordinates."""
        if not self._form_ok():
            return None
        q_re, q_im = self._queries(tails, self._ids(anchor), self._ids(rel))
        return QueryForm("modulus", torch.cat([q_re, q_im], dim=1), self._columns("ent_emb"), None, -1.0, self._margin())

    def score_tails(self, h: LongTensor, r: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(h_b, r_b, e)`` for all ``e`` (or the ``entities`` given)."""
        return self._margin_minus(self._dist(*self._queries(True, self._ids(h), self._ids(r)), entities))

    def score_heads(self, r: LongTensor, t: LongTensor, entities: "slice | Tensor | None" = None) -> Tensor:
        """Scores of ``(e, r_b, t_b)`` for all ``e`` (or the ``entities`` given)."""
        return self._margin_minus(self._dist(*self._queries(False, self._ids(t), self._ids(r)), entities))

    def _train_scores(self, h, r, t, negatives, head, layout):
        m = self.model
        eh, et, cand = _lookup(m.ent_emb.weight, h, t, negatives)
        phase = _rows(m.rel_emb.weight, r) / (m.embedding_range.item() / _PI)
        cos, sin = torch.cos(phase), torch.sin(phase)
        h_re, h_im = torch.chunk(eh, 2, dim=-1)
        rotated = torch.cat([h_re * cos - h_im * sin, h_re * sin + h_im * cos], dim=-1)  # h * r
        margin = self._margin()
        pos = margin - _ComplexModulusSum.apply(rotated, et)
        if head:
            t_re, t_im = torch.chunk(et, 2, dim=-1)
            query = torch.cat([cos * t_re + sin * t_im, cos * t_im - sin * t_re], dim=-1)  # conj(r) * t
        else:
            query = rotated
        q = layout.queries(query).unsqueeze(-2)
        return pos, margin - layout.finish(_ComplexModulusSum.apply(q, layout.candidates(cand)))



class RotatEAdapter(KgeAdapter):
    """RotatE: complex entities (``[re | im]``, 2 columns per dimension), one phase per dimension."""

    name = "RotatE"
    scorer = RotatEScorer
    tables = {"ent_emb": 2, "rel_emb": 1}
    paper_negatives = 25
    score_form = MARGIN_MINUS_SUM  # --soft_label_scale dim: how the score grows with the dimension
    separable_coordinates = True  # a sum of per-coordinate terms: `neuralkg-distil inherit` can slice it


register_adapter(RotatEAdapter())
