"""Test templates shared by test files (this module holds no tests of its own).

:class:`KgeAdapterCase` checks one KGE adapter against a tiny, randomly initialised NeuralKG model
of its family; ``tests/test_kge_adapters.py`` subclasses it once per registered adapter.
:class:`DistillationMethodCase` checks one registered distillation method (roles, phases, loss,
epoch hook, grid arms, checkpoint entry); ``tests/test_methods.py`` subclasses it once per method.
Both test files end with a meta-test that fails when a registered part has no case.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import pytest
import torch
from torch import nn

from neuralkg_distil.checkpoint.rebuild import _guess_family, infer_dim
from neuralkg_distil.kge.adapter import GENERIC, LOSS_FAMILIES, KgeAdapter, adapter_for, registered_adapters
from neuralkg_distil.kge.scoring import GetScoreScorer, scorer_for, train_scorer_for
from neuralkg_distil.kge.spec import ModelSpec, build_model, entity_vectors, n3_penalty
from neuralkg_distil.methods.losses import family_of
from neuralkg_distil.training.batch_scores import FastTrainScorer, NeuralKGTrainScorer, expand_shared

NUM_ENT, NUM_REL, DIM = 40, 5, 6
MODES = ("head-batch", "tail-batch")
TOL = dict(rtol=1e-9, atol=1e-9)  # float64 models: the fast paths agree far below float32 rounding


def _batch(rows: int, k: int, mode: str, chunk: Optional[int] = None, seed: int = 1) -> Dict[str, Any]:
    """A training batch with a repeated relation, repeated candidate ids and a true entity among them."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.stack([torch.randint(0, NUM_ENT, (rows,), generator=g), torch.randint(0, NUM_REL, (rows,), generator=g),
                       torch.randint(0, NUM_ENT, (rows,), generator=g)], 1)
    pos[: rows // 2, 1] = pos[0, 1]
    negs = torch.randint(0, NUM_ENT, (-(-rows // chunk) if chunk else rows, k), generator=g)
    negs[0, :2] = pos[0, 0 if mode == "head-batch" else 2]
    batch: Dict[str, Any] = {"positive_sample": pos, "negative_sample": negs, "mode": mode}
    if chunk:
        batch["neg_chunk_size"] = chunk
    return batch


def scores_and_grads(model: nn.Module, fn) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
    """(pos, neg, grads) after backward of a weighted sum that reaches every score."""
    model.zero_grad(set_to_none=True)
    pos, neg = fn()
    pos, neg = pos.reshape(-1), neg.reshape(pos.shape[0], -1)
    weights = torch.linspace(-1.0, 2.0, neg.numel(), dtype=neg.dtype).view_as(neg)
    (0.7 * pos.sum() + (weights * neg).sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return pos.detach(), neg.detach(), grads


def _embedding_names(model: nn.Module) -> set:
    return {name for name, module in model.named_modules() if isinstance(module, nn.Embedding)}


class KgeAdapterCase:
    """Template: set ``adapter_name`` (and ``model_name`` for :data:`GENERIC`) in a ``Test*`` subclass."""

    adapter_name: str = ""
    model_name: Optional[str] = None  # the NeuralKG class to build; default adapter_name
    spec_overrides: Dict[str, Any] = {}
    fused_kernel: bool = True  # its scorer gives a QueryForm (evaluation/cpu_kernels.py); False: the torch path

    # ------------------------------------------------------------------ helpers
    @property
    def adapter(self) -> KgeAdapter:
        if self.adapter_name == GENERIC.name:
            return GENERIC
        return next(a for a in registered_adapters() if a.name == self.adapter_name)

    @property
    def name(self) -> str:
        return self.model_name or self.adapter_name

    def make_model(self, dim: int = DIM, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        spec = ModelSpec(self.name, dim, NUM_ENT, NUM_REL, margin=4.0, **self.spec_overrides)
        return build_model(spec).double()

    # ------------------------------------------------------------------ tests
    def test_the_registry_resolves_the_model(self) -> None:
        model = self.make_model()
        assert adapter_for(model) is self.adapter and adapter_for(type(model)) is self.adapter
        assert adapter_for(self.name) is self.adapter
        expected = self.adapter.scorer or GetScoreScorer
        assert type(scorer_for(model)) is expected
        assert (train_scorer_for(model) is None) == (self.adapter.scorer is None)

    @pytest.mark.parametrize("mode", ["tail_predict", "head_predict"])
    def test_all_entity_scores_equal_get_score(self, mode: str) -> None:
        model = self.make_model().eval()
        pos = _batch(9, 1, "tail-batch")["positive_sample"]
        h, r, t = pos.unbind(1)
        scorer = scorer_for(model)
        with torch.no_grad():
            want = model.get_score({"positive_sample": pos}, mode)
            got = scorer.score_tails(h, r) if mode == "tail_predict" else scorer.score_heads(r, t)
            ids = torch.tensor([3, 0, 17, 3])
            part = scorer.score_tails(h, r, entities=ids) if mode == "tail_predict" else scorer.score_heads(r, t, entities=ids)
        assert got.shape == (9, NUM_ENT)
        torch.testing.assert_close(got, want, **TOL)
        torch.testing.assert_close(part, want[:, ids], **TOL)

    @pytest.mark.parametrize("tails", [True, False])
    def test_streamed_link_prediction_equals_full_rows(self, tails: bool) -> None:
        """stream_queries (the fused CPU kernel where the family has one, several entity tiles)
        gives the top-k and filtered ranks of the full float32 score rows."""
        from neuralkg_distil.evaluation import cpu_kernels
        from neuralkg_distil.evaluation.ranking import _filtered_ranks, stream_queries

        torch.manual_seed(3)
        spec = ModelSpec(self.name, 16, 300, NUM_REL, margin=4.0, **self.spec_overrides)
        model = build_model(spec).eval()
        scorer = scorer_for(model)
        g = torch.Generator().manual_seed(5)
        anchor, rel, target = (torch.randint(0, n, (37,), generator=g) for n in (300, NUM_REL, 300))
        known = (torch.randint(0, 37, (400,), generator=g), torch.randint(0, 300, (400,), generator=g))
        calls = []
        real = cpu_kernels.stream_form
        with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
            mp.setattr(cpu_kernels, "stream_form", lambda *a, **kw: calls.append(1) or real(*a, **kw, tile_width=64))
            values, ids, ranks = stream_queries(scorer, tails, anchor, rel, 300, k=7, targets=target, known=known)
            full = scorer.score_tails(anchor, rel) if tails else scorer.score_heads(rel, anchor)
        assert bool(calls) == (self.fused_kernel and cpu_kernels.available())
        ref_ranks = _filtered_ranks(full.clone(), target, known, "realistic")
        # float32 sums in another order: a rank may move only by the candidates within rounding of the target
        ts = full.gather(1, target[:, None])
        near = ((full - ts).abs() <= 1e-5 * ts.abs().clamp(min=1)).sum(1) - 1
        assert ((ranks - ref_ranks).abs() <= near.float() / 2 + 1e-6).all()
        assert (ranks == ref_ranks).float().mean() > 0.9
        masked = full.clone()
        keep = known[1] != target[known[0]]
        masked[known[0][keep], known[1][keep]] = float("-inf")
        ref_values, _ = masked.topk(7, dim=1)
        torch.testing.assert_close(values, ref_values, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(full.gather(1, ids), values, rtol=1e-5, atol=1e-5)  # ids score what they claim
        assert not torch.isinf(masked.gather(1, ids)).any()  # never a filtered entity

    @pytest.mark.parametrize("mode", MODES)
    def test_all_entity_scores_agree_with_forward(self, mode: str) -> None:
        """The all-entity matrix at the candidates' columns is what the forward scores them."""
        model = self.make_model().eval()
        batch = _batch(8, 5, mode)
        pos, neg = batch["positive_sample"], batch["negative_sample"]
        h, r, t = pos.unbind(1)
        scorer = scorer_for(model)
        with torch.no_grad():
            full = scorer.score_heads(r, t) if mode == "head-batch" else scorer.score_tails(h, r)
            torch.testing.assert_close(full.gather(1, neg), model(pos, neg, mode), **TOL)
            torch.testing.assert_close(scorer.score_tails(h, r).gather(1, t[:, None]), model(pos).reshape(-1, 1), **TOL)

    @pytest.mark.parametrize("mode", MODES)
    def test_all_entity_and_training_scores_in_row_blocks(self, mode: str) -> None:
        """Cache-sized row blocks (forced tiny here) change neither the all-entity scores nor the
        per-triple training scores, and, where the scorer blocks under autograd, not the gradients."""
        import neuralkg_distil.kge.scoring as scoring

        model = self.make_model().eval()
        batch = _batch(10, 7, mode)
        pos, neg = batch["positive_sample"], batch["negative_sample"]
        h, r, t = pos.unbind(1)
        scorer, train = scorer_for(model), train_scorer_for(model)
        with torch.no_grad():
            full = scorer.score_heads(r, t) if mode == "head-batch" else scorer.score_tails(h, r)
        whole = None if train is None else scores_and_grads(model, lambda: train.score_batch(pos, neg, mode))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(scoring, "_TRAIN_BLOCK_ELEMENTS", 1)
            mp.setattr(scoring, "_MIN_BLOCK_ROWS", 3)
            module = __import__(type(scorer).__module__, fromlist=["_"])
            if hasattr(module, "BLOCK_SCORES"):
                mp.setattr(module, "BLOCK_SCORES", 2 * NUM_ENT)
            with torch.no_grad():
                blocked = scorer.score_heads(r, t) if mode == "head-batch" else scorer.score_tails(h, r)
                if train is not None:
                    assert train._block_rows(neg) == 3  # noqa: SLF001 (the blocks really are taken)
                    blocked_neg = train.score_batch(pos, neg, mode)[1]
            in_blocks = None if train is None else scores_and_grads(model, lambda: train.score_batch(pos, neg, mode))
        torch.testing.assert_close(blocked, full, **TOL)
        if train is None:
            return
        torch.testing.assert_close(blocked_neg, whole[1].detach(), **TOL)
        torch.testing.assert_close(in_blocks[1], whole[1], **TOL)
        for key in whole[2]:
            torch.testing.assert_close(in_blocks[2][key], whole[2][key], **TOL, msg=lambda m: f"grad of {key}: {m}")

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("layout", ["per-triple", "shared"])
    def test_score_batch_equals_forward(self, layout: str, mode: str) -> None:
        """Values and gradients of the training path equal ``model(pos)`` / ``model(pos, neg, mode)``."""
        model = self.make_model()
        batch = _batch(10, 7, mode, chunk=4 if layout == "shared" else None)
        pos = batch["positive_sample"]
        neg = expand_shared(batch) if layout == "shared" else batch["negative_sample"]
        want = scores_and_grads(model, lambda: (model(pos), model(pos, neg, mode)))
        scorer = train_scorer_for(model)
        if scorer is None:
            fast = lambda: (lambda s: (s.pos, s.neg))(FastTrainScorer()(model, batch))  # noqa: E731
        else:
            fast = lambda: scorer.score_batch(pos, batch["negative_sample"], mode, shared=layout == "shared")  # noqa: E731
        got = scores_and_grads(model, fast)
        torch.testing.assert_close(got[0], want[0], **TOL)
        torch.testing.assert_close(got[1], want[1], **TOL)
        assert got[2].keys() == want[2].keys() and got[2]
        for key in want[2]:
            torch.testing.assert_close(got[2][key], want[2][key], **TOL, msg=lambda m: f"grad of {key}: {m}")
        reference = NeuralKGTrainScorer()(model, batch)
        torch.testing.assert_close(FastTrainScorer()(model, batch).neg.detach(), reference.neg.detach(), **TOL)

    def test_entity_vectors(self) -> None:
        model = self.make_model()
        idx = torch.tensor([0, 5, 5, NUM_ENT - 1])
        vectors = entity_vectors(model, idx)
        tables = self.adapter.entity_tables
        width = sum(getattr(model, name).weight.shape[1] for name in tables)
        assert vectors.shape == (4, width)
        assert getattr(model, tables[0]).weight.shape[1] == self.adapter.entity_width * DIM
        torch.testing.assert_close(vectors, torch.cat([getattr(model, name).weight[idx] for name in tables], dim=-1))

    def test_n3_tables_cover_every_embedding_table(self) -> None:
        """Every nn.Embedding is regularised or declared unregularised; the penalty sums exactly those."""
        model = self.make_model()
        names = {id(module): name for name, module in model.named_modules()}
        regularised = [names[id(table)] for table in self.adapter.regularised_tables(model)]
        assert len(set(regularised)) == len(regularised)
        assert set(regularised) | set(self.adapter.unregularised) == _embedding_names(model)
        assert not set(regularised) & set(self.adapter.unregularised)
        if self.adapter.tables:  # a declared family: the declaration is the model's tables, no more, no less
            assert set(self.adapter.tables) == _embedding_names(model)
        want = sum(getattr(model, name).weight.abs().pow(3).sum() for name in regularised)
        torch.testing.assert_close(n3_penalty(model), want, **TOL)

    @pytest.mark.parametrize("dim", [DIM, 4])
    def test_infer_dim_round_trips(self, dim: int) -> None:
        assert infer_dim(self.name, self.make_model(dim).state_dict()) == dim

    @pytest.mark.parametrize("dim", [DIM, 4])
    def test_looks_like_its_own_state_dict(self, dim: int) -> None:
        state = self.make_model(dim).state_dict()
        assert self.adapter.looks_like(state)
        if self.adapter is not GENERIC:
            assert self.adapter.name in _guess_family(state)

    def test_loss_family_and_defaults(self) -> None:
        assert self.adapter.loss_family in LOSS_FAMILIES
        assert family_of(self.name) == self.adapter.loss_family
        negatives = self.adapter.paper_negatives
        assert negatives is None or (isinstance(negatives, int) and negatives > 0)


# ----------------------------------------------------------------------------------- distillation methods
class _FakePlan:
    """A grid cell's job planner that records what an arm asks for (jobs are plain dicts here)."""

    def __init__(self, teacher_dim: int = 64, student_dim: int = 8) -> None:
        self.teacher_dim, self.student_dim = teacher_dim, student_dim
        self.teacher = {"kind": "pretrain", "dim": teacher_dim}

    def student(self):
        return {"kind": "pretrain", "dim": self.student_dim}

    def stage1(self):
        return {"kind": "stage1", "dim": self.student_dim, "teacher": self.teacher}

    def stage2(self, stage1):
        return {"kind": "stage2", "dim": self.student_dim, "start": stage1}

    def stage2_from_scratch(self):
        return {"kind": "stage2", "dim": self.student_dim, "start": None}

    def link(self, dim, teacher, defaults):
        return {"kind": "stage1", "dim": dim, "teacher": teacher, "defaults": dict(defaults)}

    def option(self, name, default=None):
        return default

    def teacher_of(self, model):
        return {"kind": "pretrain", "dim": self.teacher_dim, "model": model}

    def distil(self, teachers, forced):
        return {"kind": "stage1", "dim": self.student_dim, "teachers": dict(teachers), "forced": dict(forced)}


def _scores(rows: int = 6, negatives: int = 5, seed: int = 0):
    import torch

    from neuralkg_distil.methods.losses import Scores

    g = torch.Generator().manual_seed(seed)
    return Scores(torch.randn(rows, generator=g, requires_grad=True), torch.randn(rows, negatives, generator=g, requires_grad=True))


class DistillationMethodCase:
    """Template: every registered distillation method passes these (set ``method_name``)."""

    method_name: str = ""

    @property
    def method(self):
        from neuralkg_distil.methods.registry import method_named

        return method_named(self.method_name)

    def _args(self, **values):
        import argparse

        from neuralkg_distil.methods.losses.base import LossSettings

        base = {f: getattr(LossSettings, f) for f in LossSettings.__dataclass_fields__}
        return argparse.Namespace(**{**base, "model_name": "ComplEx", "teacher_bf16": False, **values})

    def test_roles_name_a_student_and_unique_checkpoint_prefixes(self):
        roles = self.method.roles
        assert [r.name for r in roles if r.kind == "student"] == ["model"]  # NeuralKG's own prefix
        assert len({r.name for r in roles}) == len(roles)
        assert all(r.kind in ("student", "teacher") for r in roles)

    def test_each_phase_says_what_the_teacher_does(self):
        import torch

        from neuralkg_distil.kge.spec import ModelSpec, build_model

        for stage, phase in self.method.phases.items():
            assert phase.stage == stage
            teacher = build_model(ModelSpec("ComplEx", 4, 10, 2, margin=6.0))
            policy = self.method.teacher_policy(stage, self._args())
            policy.prepare(teacher)
            trainable = list(policy.trainable(teacher))
            assert bool(trainable) == policy.trains_teacher
            if not policy.trains_teacher:  # a frozen teacher gets no gradient at all
                with policy.scoring():
                    score = teacher(torch.tensor([[0, 0, 1]])).sum()
                assert not score.requires_grad

    def test_loss_is_finite_and_reaches_the_student_only_in_stage_1(self):
        if self.method.loss_class is None:
            return  # the method trains with the loss --loss_name chooses (tested with that loss's method)
        loss = self.method.build_loss(self._args())
        student, teacher = _scores(seed=1), _scores(seed=2)
        value = loss(student, teacher, 1)
        value.backward()
        assert value.isfinite() and student.pos.grad is not None and teacher.pos.grad is None

    def test_epoch_hook_applies_the_soft_weight_schedule(self):
        if self.method.loss_class is None:
            return
        loss = self.method.build_loss(self._args(soft_weight_schedule="linear", soft_weight_warmup=10))
        assert self.method.on_train_epoch_start(loss, 5) == {"soft_weight_scale": 0.5}
        assert self.method.on_train_epoch_start(loss, 20) == {"soft_weight_scale": 1.0}
        constant = self.method.build_loss(self._args())
        assert self.method.on_train_epoch_start(constant, 5) == {}

    def test_grid_arms_give_a_result_job(self):
        for name, arm in self.method.arms.items():
            jobs = arm(_FakePlan())
            assert "result" in jobs, name
            assert jobs["result"]["dim"] == 8, name

    def test_checkpoint_entry_names_the_method(self):
        if self.method.loss_class is None:
            return
        entry = self.method.checkpoint_entry(self.method.build_loss(self._args()))
        assert entry["method"] == self.method.name and entry["loss"]["name"] == self.method.loss_class.__name__
