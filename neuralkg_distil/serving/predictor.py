"""Using a trained model: ``neuralkg_distil.load`` (a Python API) and the ``export``, ``predict`` and
``evaluate`` sub-commands.

``load(path)`` rebuilds a model from one of our checkpoints (the student ``model.*`` by default,
``role="teacher"`` for the teacher), from a NeuralKG checkpoint (``model_name=`` needed, it does not
record its class), or from a folder written by ``export``. The dataset dictionaries come from the
folder the checkpoint records (``data_path`` in its ``neuralkg_distil`` entry) or from ``data_path=``;
their checksum is checked against the one the checkpoint records. Queries take entity and relation
names or ids; top-k answers stream over entity blocks (no ``num_ent``-wide score row is kept).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from neuralkg_distil.errors import CheckpointError, ConfigError, DatasetError, DistilError

Name = Union[str, int]
MANIFEST = "manifest.json"
FORMATS = ("npy", "safetensors", "pt")
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Prediction:
    """One answer: entity name (None without dictionaries), id and score."""

    entity: Optional[str]
    id: int
    score: float


def read_dictionary(path: Path) -> List[str]:
    """Names by id from a NeuralKG ``entities.dict`` / ``relations.dict`` (``id<TAB>name`` lines)."""
    names: Dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip().lstrip("-").isdigit():
            raise DatasetError(f"{path}:{number}: expected 'id<TAB>name'")
        names[int(parts[0])] = parts[1].strip()
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"{path}: ids are not 0..{len(names) - 1}")
    return [names[i] for i in range(len(names))]


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
        return int(self.spec.num_ent)

    @property
    def num_rel(self) -> int:
        return int(self.spec.num_rel)

    def _need_names(self) -> None:
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
        self._need_names()
        table = self._ent_ids if kind == "entity" else self._rel_ids
        assert table is not None
        if value in table:
            return table[value]
        close = difflib.get_close_matches(str(value), list(table), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
        raise ConfigError(f"unknown {kind} {value!r}{hint}")

    def entity_id(self, name: Name) -> int:
        return self._id(name, "entity")

    def relation_id(self, name: Name) -> int:
        return self._id(name, "relation")

    def entity_name(self, idx: int) -> Optional[str]:
        return self.entities[idx] if self.entities is not None else None

    # ------------------------------------------------------------------ filtering
    def filter_index(self):
        """Every known triple (train + valid + test) of the dataset, for filtered answers."""
        from neuralkg_distil.evaluation.ranking import FilterIndex

        if self._filter is None:
            self._need_names()
            self._filter = FilterIndex.from_triples(self.split_triples(*SPLITS), self.num_ent, self.num_rel)
        return self._filter

    def split_triples(self, *splits: str) -> Tensor:
        """``(N, 3)`` ids of the named splits' triples (read from the dataset folder)."""
        self._need_names()
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


# ---------------------------------------------------------------------- loading
def _find_data(recorded: Optional[str], given: Optional[str | os.PathLike]) -> Optional[Path]:
    if given is not None:
        path = Path(given)
        if not (path / "entities.dict").is_file() or not (path / "relations.dict").is_file():
            raise DatasetError(f"{path} holds no entities.dict and relations.dict (data_path / --data_path)")
        return path
    if recorded and (Path(recorded) / "entities.dict").is_file() and (Path(recorded) / "relations.dict").is_file():
        return Path(recorded)
    return None


def load(path: str | os.PathLike, data_path: Optional[str | os.PathLike] = None, *, role: str = "model",
         model_name: Optional[str] = None, device: str | torch.device = "cpu") -> KGEModelHandle:
    """Rebuild a trained model from a checkpoint (ours or NeuralKG's) or an ``export`` folder."""
    import neuralkg_distil  # noqa: F401  (registers our classes)

    from neuralkg_distil.checkpoint.files import config_of, dictionary_checksum, read_checkpoint, state_dict_of
    from neuralkg_distil.kge.spec import ModelSpec
    from neuralkg_distil.checkpoint.rebuild import load_model

    path = Path(path)
    if path.is_dir():
        return _load_export(path, data_path, device)
    checkpoint = read_checkpoint(path, "checkpoint")
    config = config_of(checkpoint) or {}
    saved = config.get("models", {}).get(role)
    data = _find_data(config.get("data_path"), data_path)
    entities = relations = None
    if data is not None:
        entities, relations = read_dictionary(data / "entities.dict"), read_dictionary(data / "relations.dict")
    checksum = config.get("dataset_checksum")
    if data is not None and checksum and dictionary_checksum(data) != checksum:
        raise CheckpointError(f"checkpoint {path} was trained on a dataset whose entities.dict/relations.dict differ from {data}'s")
    if saved is not None:
        spec = ModelSpec.from_dict(saved)
        if model_name is not None and model_name != spec.model_name:
            raise CheckpointError(f"checkpoint {path} holds a {spec.model_name} {role}, not {model_name}")
        name, num_ent, num_rel = spec.model_name, int(spec.num_ent), int(spec.num_rel)
    else:
        roles = sorted(config.get("models", {}))
        if roles:
            raise CheckpointError(f"checkpoint {path} holds no {role!r} model (it has: {', '.join(roles)})")
        if model_name is None:
            raise CheckpointError(f"checkpoint {path} does not record its model class (a NeuralKG checkpoint): pass model_name= / --model_name")
        state = state_dict_of(checkpoint, f"{role}.", path, "checkpoint")
        ent = state.get("ent_emb.weight", state.get("ent_h_emb.weight"))
        rel = state.get("rel_emb.weight")
        name = model_name
        num_ent = len(entities) if entities is not None else int(ent.shape[0]) if ent is not None else 0
        num_rel = len(relations) if relations is not None else int(rel.shape[0]) if rel is not None else 0
    if entities is not None and (len(entities), len(relations)) != (num_ent, num_rel):
        raise CheckpointError(f"checkpoint {path} has {num_ent} entities / {num_rel} relations, {data} has "
                              f"{len(entities)} / {len(relations)}")
    model, spec = load_model(path, model_name=name, num_ent=num_ent, num_rel=num_rel, prefix=f"{role}.",
                             what="checkpoint", dataset_checksum=None)
    metrics = None
    results = path.parent / "results.json"
    if results.is_file():
        try:
            metrics = json.loads(results.read_text()).get("models", {}).get(role)
            metrics = {k: metrics[k] for k in ("valid", "test", "params") if k in metrics} if metrics else None
        except (ValueError, AttributeError):
            metrics = None
    return KGEModelHandle(model.to(device), spec, entities=entities, relations=relations, data_path=data,
                          dataset_checksum=checksum, source=f"checkpoint {path}", role=role, metrics=metrics)


def _load_export(folder: Path, data_path: Optional[str | os.PathLike], device: str | torch.device) -> KGEModelHandle:
    from neuralkg_distil.checkpoint.files import dictionary_checksum
    from neuralkg_distil.kge.spec import ModelSpec, build_model

    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{folder} is not an export folder (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    spec = ModelSpec.from_dict(manifest["spec"])
    tables = _read_tables(folder, manifest)
    model = build_model(spec)
    try:
        model.load_state_dict(tables)
    except RuntimeError as exc:
        raise CheckpointError(f"export {folder}: tables do not fit a {spec.model_name} ({str(exc).splitlines()[0]})") from None
    dictionaries = Path(data_path) if data_path is not None else folder
    data = _find_data(str(dictionaries), None)
    entities = relations = None
    if data is not None:
        entities, relations = read_dictionary(data / "entities.dict"), read_dictionary(data / "relations.dict")
        if manifest.get("dataset_checksum") and dictionary_checksum(data) != manifest["dataset_checksum"]:
            raise CheckpointError(f"export {folder} was made for a dataset whose dictionaries differ from {data}'s")
    # the triples for filtering: the data_path given, else the one the checkpoint recorded
    triples_dir = Path(data_path) if data_path is not None else Path(manifest.get("data_path") or folder)
    handle = KGEModelHandle(model.to(device), spec, entities=entities, relations=relations, data_path=triples_dir,
                            dataset_checksum=manifest.get("dataset_checksum"), source=f"export {folder}",
                            role=manifest.get("role", "model"), metrics=manifest.get("metrics"))
    return handle


def _read_tables(folder: Path, manifest: Dict[str, Any]) -> Dict[str, Tensor]:
    fmt = manifest["format"]
    if fmt == "npy":
        import numpy as np

        return {key: torch.from_numpy(np.load(folder / f"{key}.npy")) for key in manifest["tables"]}
    if fmt == "safetensors":
        _need_safetensors()
        from safetensors.torch import load_file

        return load_file(str(folder / "tables.safetensors"))
    return torch.load(folder / "tables.pt", map_location="cpu", weights_only=True)


def _need_safetensors() -> None:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        raise ConfigError("--format safetensors needs the safetensors package: pip install safetensors") from None


# ---------------------------------------------------------------------- export
def export(handle: KGEModelHandle, out: str | os.PathLike, fmt: str = "npy", source: Optional[str] = None) -> Path:
    """Write the model's tables, the name dictionaries and a JSON manifest into the empty folder ``out``."""
    from neuralkg_distil.checkpoint.files import atomic_write_json, atomic_write_text
    from neuralkg_distil.kge.spec import parameter_count

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "safetensors":
        _need_safetensors()
    handle._need_names()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"export folder {out} already holds files; pick an empty or new folder")
    tables = {k: v.detach().cpu().contiguous() for k, v in handle.model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        import numpy as np

        for key, tensor in tables.items():
            np.save(out / f"{key}.npy", tensor.numpy())
        files = [f"{key}.npy" for key in tables]
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(tables, str(out / "tables.safetensors"))
        files = ["tables.safetensors"]
    else:
        torch.save(tables, out / "tables.pt")
        files = ["tables.pt"]
    assert handle.entities is not None and handle.relations is not None
    atomic_write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(handle.entities)), out / "entities.dict")
    atomic_write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(handle.relations)), out / "relations.dict")
    spec = handle.spec.to_dict()
    manifest = {
        "format": fmt,
        "model": spec["model_name"],
        "role": handle.role,
        "dim": int(spec["emb_dim"]),
        "num_ent": int(spec["num_ent"]),
        "num_rel": int(spec["num_rel"]),
        "params": parameter_count(handle.model),
        "spec": spec,
        "tables": {k: list(v.shape) for k, v in tables.items()},
        "files": files + ["entities.dict", "relations.dict"],
        "dataset_checksum": handle.dataset_checksum,
        "data_path": str(handle.data_path.resolve()) if handle.data_path is not None else None,
        "source": source or handle.source,
        "metrics": handle.metrics,
    }
    atomic_write_json(manifest, out / MANIFEST)
    return out


# ---------------------------------------------------------------------- sub-commands
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint (ours or NeuralKG's) or export folder")
    parser.add_argument("--role", default="model", choices=("model", "teacher"), help="model: the student / pretrained model")
    parser.add_argument("--model_name", default=None, help="model class of a NeuralKG checkpoint (ours record it)")
    parser.add_argument("--data_path", default=None, help="dataset folder (default: the one the checkpoint records)")
    parser.add_argument("--device", default="cpu")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, like every other bad input
        raise ConfigError(f"{self.prog}: {message}")


def _load_for(args: argparse.Namespace) -> KGEModelHandle:
    handle = load(args.ckpt, args.data_path, role=args.role, model_name=args.model_name, device=args.device)
    handle._need_names()
    return handle


def _export_main(argv: Sequence[str]) -> int:
    parser = _Parser(prog="neuralkg-distil export", description="Write a model's tables, dictionaries and manifest.")
    _common(parser)
    parser.add_argument("--format", default="npy", choices=FORMATS)
    parser.add_argument("--out", required=True, help="a new or empty folder")
    args = parser.parse_args(argv)
    if args.format == "safetensors":
        _need_safetensors()
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"export folder {out} already holds files; pick an empty or new folder")
    handle = _load_for(args)
    export(handle, out, args.format, source=str(args.ckpt))
    manifest = json.loads((out / MANIFEST).read_text())
    print(f"exported {manifest['model']} {manifest['role']} (dim {manifest['dim']}, {manifest['num_ent']} entities, "
          f"{manifest['num_rel']} relations, {manifest['params']:,} parameters) as {args.format} to {out}: "
          f"{', '.join(manifest['files'])}, {MANIFEST}")
    return 0


def _predict_main(argv: Sequence[str]) -> int:
    parser = _Parser(prog="neuralkg-distil predict", description="Answer (head, relation, ?) or (?, relation, tail) by names.")
    _common(parser)
    parser.add_argument("--head", default=None)
    parser.add_argument("--relation", required=True)
    parser.add_argument("--tail", default=None)
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--filtered", action="store_true", help="drop known true answers (train/valid/test)")
    args = parser.parse_args(argv)
    if args.head is None and args.tail is None:
        raise ConfigError("neuralkg-distil predict: give --head (predict tails), --tail (predict heads), or both")
    if args.topk < 1:
        raise ConfigError(f"--topk must be at least 1, got {args.topk}")
    handle = _load_for(args)
    start = time.perf_counter()
    if args.head is not None:
        answers = handle.predict_tails(args.head, args.relation, args.topk, args.filtered)
        query = f"({args.head}, {args.relation}, ?)"
    else:
        answers = handle.predict_heads(args.relation, args.tail, args.topk, args.filtered)
        query = f"(?, {args.relation}, {args.tail})"
    ranks = handle.rank(args.head, args.relation, args.tail, args.filtered) if args.head and args.tail else None
    elapsed = time.perf_counter() - start
    kind = "filtered" if args.filtered else "raw"
    print(f"{query}: top {args.topk} of {handle.num_ent} entities ({kind}), {handle.spec.model_name} dim {handle.spec.emb_dim}")
    width = max([len(str(a.entity)) for a in answers] + [6])
    for i, a in enumerate(answers, 1):
        print(f"{i:>3}  {str(a.entity):<{width}}  {a.score:.4f}")
    if ranks is not None:
        score = float(handle.score([(args.head, args.relation, args.tail)])[0])
        print(f"({args.head}, {args.relation}, {args.tail}): score {score:.4f}, {kind} rank {ranks[0]:g} as tail, {ranks[1]:g} as head")
    print(f"predict took {elapsed * 1000:.1f} ms")
    return 0


def _evaluate_main(argv: Sequence[str]) -> int:
    from neuralkg_distil.run.results import table

    parser = _Parser(prog="neuralkg-distil evaluate", description="Filtered MR, MRR, Hits@1/3/10 of a checkpoint.")
    _common(parser)
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args(argv)
    handle = _load_for(args)
    start = time.perf_counter()
    metrics = handle.evaluate(args.split, args.batch_size)
    row = {"model": handle.spec.model_name, "dim": handle.spec.emb_dim, "split": args.split, **metrics}
    print(table([row], ["model", "dim", "split", "mr", "mrr", "hits@1", "hits@3", "hits@10"]))
    print(f"{args.split}: {handle.split_triples(args.split).shape[0]} triples, both directions, filtered, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


COMMANDS = {"export": _export_main, "predict": _predict_main, "evaluate": _evaluate_main}


def main(argv: Sequence[str]) -> int:
    """``neuralkg-distil {export,predict,evaluate} ...`` (errors raise DistilError: one line, code 2)."""
    return COMMANDS[argv[0]](list(argv[1:]))
