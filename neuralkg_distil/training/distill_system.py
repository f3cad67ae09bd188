"""KGDistillLitModel: the Lightning training system of a distillation stage.

The student and teacher are plain NeuralKG KGE modules (``self.model`` and ``self.teacher``, so
checkpoints carry ``model.*`` and ``teacher.*`` keys). The parts that a faster implementation
replaces are injected: ``train_scorer`` (scores a batch's positives and negatives), ``evaluator``
(filtered ranking) and, through the data module, the sampler. What the teacher does in each
stage is a :class:`~neuralkg_distil.methods.teacher_policy.TeacherPolicy`.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl
import torch
from torch import nn

from neuralkg_distil.methods.base import DistillationMethod
from neuralkg_distil.methods.candidates import CandidateTable
from neuralkg_distil.checkpoint.files import CONFIG_KEY, FORMAT_VERSION
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.evaluation.ranking import RankingEvaluator
from neuralkg_distil.callbacks.guards import check_finite
from neuralkg_distil.methods.losses import DistillationLoss, EntityPairs, Scores
from neuralkg_distil.kge.spec import entity_vectors, n3_penalty
from neuralkg_distil.training.optim import LR_FOLLOWS_FLAG, build_optimization, model_group
from neuralkg_distil.evaluation.lightning_hooks import RankCollector
from neuralkg_distil.methods.registry import resolve_method
from neuralkg_distil.methods.roles import StageModels, build_stage_models
from neuralkg_distil.training.batch_scores import FastTrainScorer, TrainScorer

log = logging.getLogger(__name__)


class KGDistillLitModel(RankCollector, pl.LightningModule):
    """Distil a teacher KGE into a student (stage 1) or co-train both (stage 2).

    ``KGDistillLitModel(model, args)`` is NeuralKG's calling convention: the teacher (and in
    stage 2 the stage-1 weights) are then loaded from the paths in ``args``. The CLI passes
    ``stage_models`` it already built, plus any faster scorer or evaluator.
    """

    checks_finite = True  # training_step checks loss and scores (guards.check_finite)

    def __init__(
        self,
        model: nn.Module,
        args: argparse.Namespace,
        stage_models: Optional[StageModels] = None,
        *,
        loss: Optional[DistillationLoss] = None,
        train_scorer: Optional[TrainScorer] = None,
        evaluator: Optional[RankingEvaluator] = None,
        dataset_checksum: Optional[str] = None,
        candidates: Optional[CandidateTable] = None,
        method: Optional[DistillationMethod] = None,
    ) -> None:
        super().__init__()
        if stage_models is None:
            if getattr(args, "num_ent", None) is None:
                raise ConfigError("KGDistillLitModel(model, args) needs args.num_ent/num_rel (set by the data sampler)")
            stage_models = build_stage_models(args, args.num_ent, args.num_rel, dataset_checksum, student=model)
        self.args = args
        self.stage = stage_models.stage
        self.model = stage_models.student
        self.teacher = stage_models.teacher
        self.student_spec = stage_models.student_spec
        self.teacher_spec = stage_models.teacher_spec
        # Several teachers (MulDE): the others are attributes teacher2, teacher3, ... (their checkpoint prefixes).
        self.teacher_specs = stage_models.teacher_specs
        for role, extra in list(stage_models.teachers.items())[1:]:
            setattr(self, role, extra)
        self.dataset_checksum = dataset_checksum
        self.method = method if method is not None else resolve_method(getattr(args, "loss_name", None))
        self.method.check_teachers(len(self.teacher_specs))
        self.policy = self.method.teacher_policy(self.stage, args)
        for teacher in self.teachers:
            self.policy.prepare(teacher)
        self.loss = loss if loss is not None else self.method.build_loss(args)
        self.loss.set_models(self.student_spec, self.teacher_spec)
        if stage_models.loss_state and self.loss.student_weighting.carries_over:
            self.loss.load_state_dict(stage_models.loss_state, strict=False)
        self.train_scorer: TrainScorer = train_scorer or FastTrainScorer()
        self.evaluator = evaluator
        # The teacher's top-k per training query (--teacher_topk): the listwise soft term's candidates.
        self.candidates = candidates
        # Random queries of the table per step (--kd_transfer_queries): the teacher's view of queries
        # the training set never asks (60% of WN18RR's test (h, r) pairs are no training query).
        self.transfer_queries = int(getattr(args, "kd_transfer_queries", 0) or 0) if candidates is not None else 0
        self.hits = tuple(getattr(args, "calc_hits", (1, 3, 10)))
        self.regularization = float(getattr(args, "regularization", 0.0) or 0.0)
        self.use_weight = bool(getattr(args, "use_weight", False))
        self.method.prepare(self)

    @property
    def teachers(self) -> List[nn.Module]:
        """Every teacher, the first (``self.teacher``) first."""
        return [getattr(self, role) for role in self.teacher_specs]

    # ----------------------------------------------------------------------------- training
    def forward(self, triples: torch.Tensor) -> torch.Tensor:
        return self.model(triples)

    def _pairs(self, model: nn.Module, pos: torch.Tensor) -> EntityPairs:
        return EntityPairs(entity_vectors(model, pos[:, 0]), entity_vectors(model, pos[:, 2]))

    def training_step(self, batch: Dict[str, Any], batch_idx: int) -> torch.Tensor:
        own = self.method.training_loss(self, batch)  # a method with its own step (MulDE), else None
        if own is not None:
            loss, scores = own
            return self._finish_step(loss, scores)
        structure = self.loss.settings.structure_weight > 0
        pos = batch["positive_sample"]
        student = self.train_scorer(self.model, batch)
        student_pairs = self._pairs(self.model, pos) if structure else None
        with self.policy.scoring():
            teacher = self.train_scorer(self.teacher, batch)
            teacher_pairs = self._pairs(self.teacher, pos) if structure else None
        if not self.policy.trains_teacher:
            # Out of inference mode (and bfloat16) before these meet tensors that need gradients.
            teacher = Scores(teacher.pos.to(student.pos.dtype), teacher.neg.to(student.neg.dtype)).clone()
            teacher_pairs = teacher_pairs.clone() if teacher_pairs is not None else None
        weight = batch.get("subsampling_weight") if self.use_weight else None
        loss = self.loss(student, teacher, self.stage, weight, student_pairs, teacher_pairs,
                         negative_mask=batch.get("negative_mask"))
        if self.candidates is not None:
            if self.loss.settings.kd_weight > 0:
                loss = loss + self._listwise_loss(batch, student, teacher, weight)
            if self.transfer_queries > 0:
                loss = loss + self._transfer_loss(batch["mode"], student.neg.shape[1])
        return self._finish_step(loss, {"student": torch.cat([student.pos.reshape(-1), student.neg.reshape(-1)]),
                                        "teacher": torch.cat([teacher.pos.reshape(-1), teacher.neg.reshape(-1)])})

    def _finish_step(self, loss: torch.Tensor, scores: Dict[str, torch.Tensor]) -> torch.Tensor:
        """N3, the finiteness guard and the step's log, for every method."""
        if self.regularization > 0:
            loss = loss + self.regularization * n3_penalty(self.model)
            if self.policy.trains_teacher:
                loss = loss + self.regularization * n3_penalty(self.teacher)
        check_finite(self, loss, scores)
        self.log("Train|loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        for name, value in self.loss.soft_weight_log().items():  # a gate that switches itself off shows here
            self.log(f"Train|soft_weight_{name}", value, on_step=False, on_epoch=True)
        return loss

    def _listwise_loss(self, batch: Dict[str, Any], student: Scores, teacher: Scores,
                       weight: Optional[torch.Tensor]) -> torch.Tensor:
        """The student's candidate term (``--kd_loss``) against the teacher over [positive, negatives,
        the teacher's top-k of the row's query]."""
        pos = batch["positive_sample"]
        cand, own = self.candidates.lookup(pos, batch["mode"])
        student_cand, teacher_cand = self._score_candidates(pos, cand, batch["mode"])
        neg_mask = batch.get("negative_mask")
        if neg_mask is None:
            neg_mask = torch.zeros_like(student.neg, dtype=torch.bool)
        mask = torch.cat([torch.zeros_like(own[:, :1]), neg_mask.reshape(student.neg.shape).to(own.device), own], dim=1)
        learner = torch.cat([student.pos.reshape(-1, 1), student.neg, student_cand], dim=1)
        label = torch.cat([teacher.pos.reshape(-1, 1), teacher.neg, teacher_cand], dim=1)
        return self.loss.listwise_loss(learner, label, mask, weight)

    def _score_candidates(self, triples: torch.Tensor, candidates: torch.Tensor, mode: str) -> tuple:
        """Student's and teacher's (B, C) scores of ``triples`` with ``candidates`` in the missing slot."""
        extra = {"positive_sample": triples, "negative_sample": candidates, "mode": mode}
        learner = self.train_scorer(self.model, extra).neg
        with self.policy.scoring():
            label = self.train_scorer(self.teacher, extra).neg
        return learner, label.to(learner.dtype).clone()  # out of inference mode (the loss detaches it)

    def _transfer_loss(self, mode: str, num_neg: int) -> torch.Tensor:
        """The candidate term on random queries of the table (no gold answer): [top-k, random entities]."""
        device = self.device
        queries = self.candidates.sample_queries(self.transfer_queries, mode).to(device)
        cand, missing = self.candidates.lookup(queries, mode, mask_answer=False)
        noise = torch.randint(0, self.candidates.num_ent, (queries.shape[0], num_neg), device=device)
        mask = torch.cat([missing, torch.zeros_like(noise, dtype=torch.bool)], dim=1)
        learner, label = self._score_candidates(queries, torch.cat([cand, noise], dim=1), mode)
        return self.loss.listwise_loss(learner, label, mask, weight=self.loss.settings.kd_transfer_weight)

    def on_train_epoch_start(self) -> None:
        for teacher in self.teachers:
            self.policy.on_train_epoch_start(teacher)
        logged = self.method.on_train_epoch_start(self.loss, int(self.current_epoch))
        if self._trainer is not None:
            for name, value in logged.items():
                self.log(f"Train|{name}", value, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> Dict[str, Any]:
        groups = [model_group(self.args, self.model)]
        if self.policy.trains_teacher:
            groups.append(model_group(self.args, self.teacher, self.policy.trainable(self.teacher)))
        gates = [p for p in self.loss.parameters() if p.requires_grad]
        # The published gates learn with the models; calibrated gates fit the truth at their own rate.
        published = self.loss.weighting_kind == "adaptive" or self.loss.learns_with_models
        gate_lr = float(self.args.lr) if published else float(getattr(self.args, "gate_lr", 0.01))
        groups.append({"params": gates, "lr": gate_lr, LR_FOLLOWS_FLAG: published})
        return build_optimization(self.args, groups)

    # --------------------------------------------------------------------------- evaluation
    def validation_step(self, batch: Dict[str, Any], batch_idx: int) -> None:
        self.collect_ranks("val", self.model, batch["positive_sample"])

    def validation_epoch_end(self, outputs: Any) -> None:
        metrics = self.pop_metrics("val")
        self.log_dict({f"Eval|{k}": v for k, v in metrics.items()}, prog_bar=True)

    # --------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = {
            "format": FORMAT_VERSION,
            "kind": "distil",
            "stage": self.stage,
            "models": {"model": self.student_spec.to_dict(),
                       **{role: spec.to_dict() for role, spec in self.teacher_specs.items()}},
            **self.method.checkpoint_entry(self.loss),
            "dataset_checksum": self.dataset_checksum,
            # where the dictionaries (and the triples for filtering) are, for neuralkg_distil.load
            "data_path": _absolute(getattr(self.args, "data_path", None)),
        }


def _absolute(path: Optional[str]) -> Optional[str]:
    import os

    return os.path.abspath(path) if path else None
