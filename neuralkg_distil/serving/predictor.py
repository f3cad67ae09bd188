"""The predictor: a trained KGE model with its dataset dictionaries (:class:`KGEModelHandle`).

Queries take entity and relation names or ids; top-k answers stream over entity blocks (no
``num_ent``-wide score row is kept). :func:`neuralkg_distil.serving.loading.load` builds one from a
checkpoint or an export folder.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from neuralkg_distil.errors import CheckpointError, ConfigError, DatasetError

Name = Union[str, int]
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Prediction:
    """One answer: entity name (None without dictionaries), id and score."""

    entity: Optional[str]
    id: int
    score: float


class KGEModelHandle:
    """A trained KGE model with its dictionaries: predictions by name or id, scores, embeddings."""

    def __init__(self, model: nn.Module, spec: Any, *, entities: Optional[List[str]] = None,
                 relations: Optional[List[str]] = None, data_path: Optional[Path] = None,
                 dataset_checksum: Optional[str] = None, source: str = "", role: str = "model",
                 metrics: Optional[Dict[str, Any]] = None) -> None:
        from neuralkg_distil.kge.scoring import scorer_for

        self.model = model.eval()
        self.spec = spec
        self.scorer = scorer_for(self.model)
        self.entities, self.relations = entities, relations
        self._ent_ids = {n: i for i, n in enumerate(entities)} if entities is not None else None
        self._rel_ids = {n: i for i, n in enumerate(relations)} if relations is not None else None
        self.data_path = data_path
        self.dataset_checksum = dataset_checksum
        self.source, self.role = source, role
        self.metrics = metrics
        self._filter = None

    # ------------------------------------------------------------------ names and ids
    @property
    def num_ent(self) -> int:
        """Entities the model scores."""
        return int(self.spec.num_ent)

    @property
    def num_rel(self) -> int:
        """Relations the model knows."""
        return int(self.spec.num_rel)

    def require_names(self) -> None:
        """Raise CheckpointError unless the dataset dictionaries were found (names need them)."""
        if self.entities is None:
            raise CheckpointError(
                f"{self.source} records no dataset dictionaries (entities.dict, relations.dict) that exist here; "
                "pass data_path= / --data_path DIR"
            )

    def _id(self, value: Name, kind: str) -> int:
        count = self.num_ent if kind == "entity" else self.num_rel
        if isinstance(value, (int, torch.Tensor)) or type(value).__name__.startswith("int"):
            number = int(value)
            if not 0 <= number < count:
                raise ConfigError(f"{kind} id {number} is out of range (0..{count - 1})")
            return number
        self.require_names()
        table = self._ent_ids if kind == "entity" else self._rel_ids
        assert table is not None
        if value in table:
            return table[value]
        close = difflib.get_close_matches(str(value), list(table), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
        raise ConfigError(f"unknown {kind} {value!r}{hint}")

    def entity_id(self, name: Name) -> int:
        """The id of an entity name (an id is range-checked and returned)."""
        return self._id(name, "entity")

    def relation_id(self, name: Name) -> int:
        """The id of a relation name (an id is range-checked and returned)."""
        return self._id(name, "relation")

    def entity_name(self, idx: int) -> Optional[str]:
        """The name of entity ``idx`` (None without dictionaries)."""
        return self.entities[idx] if self.entities is not None else None

    # ------------------------------------------------------------------ filtering
    def filter_index(self) -> Any:
        """Every known triple (train + valid + test) of the dataset, for filtered answers."""
        from neuralkg_distil.evaluation.ranking import FilterIndex

        if self._filter is None:
            self.require_names()
            self._filter = FilterIndex.from_triples(self.split_triples(*SPLITS), self.num_ent, self.num_rel)
        return self._filter

    def split_triples(self, *splits: str) -> Tensor:
        """``(N, 3)`` ids of the named splits' triples (read from the dataset folder)."""
        self.require_names()
        assert self.data_path is not None and self._ent_ids is not None and self._rel_ids is not None
        rows: List[Tuple[int, int, int]] = []
        for split in splits:
            path = self.data_path / f"{split}.txt"
            if not path.is_file():
                raise DatasetError(f"{path} not found (needed for {split} triples)")
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split("\t")
                try:
                    rows.append((self._ent_ids[parts[0].strip()], self._rel_ids[parts[1].strip()], self._ent_ids[parts[2].strip()]))
                except (KeyError, IndexError):
                    raise DatasetError(f"{path}:{number}: not a triple of known names") from None
        return torch.tensor(rows, dtype=torch.long).reshape(-1, 3)

    # ------------------------------------------------------------------ queries
    def _answer(self, tails: bool, anchor: int, rel: int, k: int, filtered: bool,
                target: Optional[int] = None) -> Tuple[List[Prediction], Optional[float]]:
        from neuralkg_distil.evaluation.ranking import stream_queries

        device = self.scorer.device
        a = torch.tensor([anchor], device=device)
        r = torch.tensor([rel], device=device)
        known = None
        if filtered:
            index = self.filter_index().to(device)
            known = index.tails_of(a, r) if tails else index.heads_of(r, a)
        targets = torch.tensor([target], device=device) if target is not None else None
        with torch.no_grad():
            values, ids, ranks = stream_queries(self.scorer, tails, a, r, self.num_ent, k=k, targets=targets, known=known)
        answers = [] if values is None else [
            Prediction(self.entity_name(int(i)), int(i), float(v))
            for v, i in zip(values[0].tolist(), ids[0].tolist()) if i >= 0 and v != float("-inf")
        ]
        return answers, (float(ranks[0]) if ranks is not None else None)

    def predict_tails(self, head: Name, relation: Name, k: int = 10, filtered: bool = False) -> List[Prediction]:
        """The ``k`` best tails of ``(head, relation, ?)``, best first (filtered: known true tails removed)."""
        return self._answer(True, self.entity_id(head), self.relation_id(relation), k, filtered)[0]

    def predict_heads(self, relation: Name, tail: Name, k: int = 10, filtered: bool = False) -> List[Prediction]:
        """The ``k`` best heads of ``(?, relation, tail)``, best first (filtered: known true heads removed)."""
        return self._answer(False, self.entity_id(tail), self.relation_id(relation), k, filtered)[0]

    def rank(self, head: Name, relation: Name, tail: Name, filtered: bool = True) -> Tuple[float, float]:
        """The (tail, head) rank of a triple among all entities (ties: the mean of the two policies)."""
        h, r, t = self.entity_id(head), self.relation_id(relation), self.entity_id(tail)
        return self._answer(True, h, r, 0, filtered, t)[1], self._answer(False, t, r, 0, filtered, h)[1]

    def score(self, triples: Sequence[Sequence[Name]]) -> Tensor:
        """The model's scores of ``(head, relation, tail)`` triples (names or ids): a float tensor."""
        ids = torch.tensor([[self.entity_id(h), self.relation_id(r), self.entity_id(t)] for h, r, t in triples],
                           dtype=torch.long).reshape(-1, 3)
        with torch.no_grad():
            return self.model(ids.to(self.scorer.device)).reshape(-1).cpu()

    def entity_embeddings(self) -> Tensor:
        """``(num_ent, width)`` entity vectors (SimplE: head-role and tail-role tables side by side)."""
        from neuralkg_distil.kge.spec import entity_vectors

        with torch.no_grad():
            return entity_vectors(self.model, torch.arange(self.num_ent, device=self.scorer.device)).detach().cpu().clone()

    def relation_embeddings(self) -> Tensor:
        """``(num_rel, width)`` relation vectors."""
        return self.model.rel_emb.weight.detach().cpu().clone()

    def evaluate(self, split: str = "test", batch_size: int = 256) -> Dict[str, float]:
        """Filtered MR, MRR, Hits@1/3/10 on a split of the dataset (RankingEvaluator)."""
        from neuralkg_distil.evaluation.ranking import RankingEvaluator

        evaluator = RankingEvaluator(self.filter_index(), batch_size=batch_size)
        return evaluator.evaluate(self.model, self.split_triples(split).to(self.scorer.device))
