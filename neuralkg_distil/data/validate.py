"""Check a dataset folder before NeuralKG reads it, so bad files give one line naming file and line.

NeuralKG's reader (``KGData``) unpacks ``line.strip().split("\\t")`` for the dictionaries and
``line.strip().split()`` for the triples and indexes its dictionaries with every name: a stray
column, a blank line, a misspelt entity or a Latin-1 byte ends in a bare traceback, and a gap
or a duplicate in the ids silently mis-sizes the embedding tables. :func:`validate_dataset`
accepts exactly what that reader handles correctly, so a folder it passes always loads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

from neuralkg_distil.errors import DatasetError

DICT_FILES = ("entities.dict", "relations.dict")
SPLIT_FILES = ("train.txt", "valid.txt", "test.txt")
DATASET_FILES = DICT_FILES + SPLIT_FILES


@dataclass
class DatasetSummary:
    """Counts of a dataset that passed validation, and what it holds that is legal but notable."""

    path: Path
    num_entities: int
    num_relations: int
    triples: Dict[str, int]
    # valid/test triples whose head, relation or tail never occurs in train.txt (WN18RR has some)
    unseen_in_train: Dict[str, int] = field(default_factory=dict)

    def notes(self) -> List[str]:
        """Warnings worth showing the user (empty when there is nothing to say)."""
        return [
            f"{self.path / name}: {count} triple(s) use an entity or relation that never occurs in train.txt; "
            "they are kept (their embeddings are never trained)"
            for name, count in self.unseen_in_train.items()
            if count
        ]


def _lines(path: Path) -> Iterator[Tuple[int, str]]:
    """(line number, text) of a UTF-8 file; one-line errors for missing, non-UTF-8 or empty files."""
    if not path.is_file():
        raise DatasetError(f"dataset file missing: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); save the file as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        raise DatasetError(f"{path}:1: starts with a byte-order mark (U+FEFF); save the file as UTF-8 without BOM")
    # Line breaks as Python's text mode reads them (NeuralKG uses readlines): \n, \r\n and \r.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not any(line.strip() for line in lines):
        raise DatasetError(f"{path}: empty file")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DatasetError(f"{path}:{number}: empty line (NeuralKG's reader cannot skip it); remove it")
        yield number, line


def _read_dictionary(path: Path, kind: str) -> Dict[str, int]:
    """``<id>\\t<name>`` lines with ids 0..N-1, each id and each name once."""
    names: Dict[str, Tuple[int, int]] = {}  # name -> (id, line)
    ids: Dict[int, Tuple[str, int]] = {}  # id -> (name, line)
    for number, line in _lines(path):
        fields = line.strip().split("\t")
        if len(fields) != 2:
            raise DatasetError(
                f"{path}:{number}: expected 2 tab-separated columns '<id>\\t<{kind} name>', found {len(fields)}"
            )
        raw_id, name = fields
        try:
            ident = int(raw_id)
        except ValueError:
            raise DatasetError(f"{path}:{number}: id {raw_id!r} is not an integer") from None
        if name in names:
            raise DatasetError(f"{path}:{number}: duplicate {kind} name {name!r} (first on line {names[name][1]})")
        if ident in ids:
            raise DatasetError(
                f"{path}:{number}: duplicate id {ident} (line {ids[ident][1]} gives it to {ids[ident][0]!r})"
            )
        names[name] = (ident, number)
        ids[ident] = (name, number)
    for ident, (name, number) in ids.items():
        if not 0 <= ident < len(ids):
            raise DatasetError(
                f"{path}:{number}: id {ident} out of range; the {len(ids)} ids must be 0..{len(ids) - 1}"
            )
    return {name: ident for name, (ident, _) in names.items()}


def _read_triples(
    path: Path, entities: Dict[str, int], relations: Dict[str, int]
) -> List[Tuple[str, str, str]]:
    """``head relation tail`` lines (any whitespace) whose names are all in the dictionaries."""
    triples = []
    for number, line in _lines(path):
        fields = line.split()
        if len(fields) != 3:
            raise DatasetError(f"{path}:{number}: expected 3 columns 'head relation tail', found {len(fields)}")
        head, relation, tail = fields
        for name, table, file in ((head, entities, "entities.dict"), (relation, relations, "relations.dict"),
                                  (tail, entities, "entities.dict")):
            if name not in table:
                kind = "relation" if table is relations else "entity"
                raise DatasetError(f"{path}:{number}: {kind} {name!r} is not in {file}")
        triples.append((head, relation, tail))
    return triples


def validate_dataset(path: str | Path) -> DatasetSummary:
    """Check the five files of a NeuralKG dataset folder; raises :class:`DatasetError` on the first problem."""
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(
            f"dataset folder not found: {folder} (--data_path; fetch one with 'neuralkg-distil fetch-data')"
        )
    entities = _read_dictionary(folder / "entities.dict", "entity")
    relations = _read_dictionary(folder / "relations.dict", "relation")
    counts: Dict[str, int] = {}
    unseen: Dict[str, int] = {}
    seen_entities: Set[str] = set()
    seen_relations: Set[str] = set()
    for name in SPLIT_FILES:
        triples = _read_triples(folder / name, entities, relations)
        counts[name] = len(triples)
        if name == "train.txt":
            seen_entities = {h for h, _, _ in triples} | {t for _, _, t in triples}
            seen_relations = {r for _, r, _ in triples}
        else:
            unseen[name] = sum(
                1 for h, r, t in triples if h not in seen_entities or t not in seen_entities or r not in seen_relations
            )
    return DatasetSummary(folder, len(entities), len(relations), counts, unseen)
