"""validate_dataset: one-line errors for malformed files, and whatever it accepts NeuralKG reads.

The property tests write malformed dataset folders (hypothesis) and check two things: the
validator either passes or raises DatasetError naming a file of the folder (never another
exception), and a folder it passes loads with NeuralKG's own reader, ids in range.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralkg_distil.data.synthetic import generate_graph
from neuralkg_distil.data.validate import DATASET_FILES, validate_dataset
from neuralkg_distil.errors import DatasetError


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    return generate_graph(tmp_path_factory.mktemp("valid") / "g", num_entities=40, num_relations=3, seed=5)


def test_generated_and_benchmark_layouts_pass(graph: Path) -> None:
    summary = validate_dataset(graph)
    assert summary.num_entities == 40 and summary.num_relations == 3
    assert summary.triples["train.txt"] == len((graph / "train.txt").read_text().splitlines())
    assert summary.notes() == []


def test_crlf_and_trailing_whitespace_are_accepted(graph: Path, tmp_path: Path) -> None:
    folder = tmp_path / "crlf"
    shutil.copytree(graph, folder)
    for name in DATASET_FILES:
        text = (folder / name).read_text()
        ending = " \r" if name == "valid.txt" else " \r\n"  # old Mac line ends: Python's text mode reads them
        (folder / name).write_bytes(text.replace("\n", ending).encode())
    assert validate_dataset(folder).num_entities == 40
    _neuralkg_reads(folder)


def test_byte_order_mark_is_named(graph: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bom"
    shutil.copytree(graph, folder)
    (folder / "entities.dict").write_bytes(b"\xef\xbb\xbf" + (folder / "entities.dict").read_bytes())
    with pytest.raises(DatasetError, match="entities.dict:1: starts with a byte-order mark"):
        validate_dataset(folder)


def test_unreadable_file_is_named(graph: Path, monkeypatch) -> None:
    read = Path.read_bytes

    def denied(self):
        if self.name == "valid.txt":
            raise PermissionError(13, "Permission denied")
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DatasetError, match=f"^{graph / 'valid.txt'}: cannot read it \\(Permission denied\\)$"):
        validate_dataset(graph)


def _neuralkg_reads(folder: Path) -> None:
    """NeuralKG's reader loads the folder and every id fits the tables it would size."""
    from neuralkg.data.DataPreprocess import KGData

    data = KGData(argparse.Namespace(data_path=str(folder), use_weight=False))
    num_ent, num_rel = len(data.ent2id), len(data.rel2id)
    assert sorted(data.ent2id.values()) == list(range(num_ent))
    assert sorted(data.rel2id.values()) == list(range(num_rel))
    for triples in (data.train_triples, data.valid_triples, data.test_triples):
        assert triples and all(0 <= h < num_ent and 0 <= r < num_rel and 0 <= t < num_ent for h, r, t in triples)


# Pieces malformed lines are made of: real and unknown names, ids in and out of range,
# separators and troublesome characters.
_ENTITIES = st.sampled_from(["e00", "e01", "e39", "e40", "nobody", "é", ""])
_RELATIONS = st.sampled_from(["r00_map", "r01_inverse", "r02_symmetric", "r09", ""])
_IDS = st.sampled_from(["0", "1", "2", "3", "38", "39", "40", "41", "-1", " 5", "x", ""])
_SEPARATORS = st.sampled_from(["\t", " ", "\t\t", "  ", "\u2028"])
_GARBAGE = st.builds(lambda tokens, sep: sep.join(tokens),
                     st.lists(st.sampled_from(["e00", "r00_map", "0", "x", "", " ", "\x00"]), max_size=4), _SEPARATORS)


@st.composite
def _line_for(draw, name: str) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(_GARBAGE)
    if name.endswith(".dict"):
        names = _ENTITIES if name == "entities.dict" else _RELATIONS
        return draw(_IDS) + draw(st.sampled_from(["\t", "\t", "\t", " "])) + draw(names)
    sep = draw(_SEPARATORS)
    return sep.join([draw(_ENTITIES), draw(_RELATIONS), draw(_ENTITIES)])


@st.composite
def _edits(draw):
    """(file, line index, action, new line (an id for clone), line ending, raw bytes to splice in)."""
    name = draw(st.sampled_from(DATASET_FILES))
    index = draw(st.integers(min_value=0, max_value=60))
    action = draw(st.sampled_from(["replace", "insert", "insert", "clone", "delete", "bytes", "truncate"]))
    line = draw(_line_for(name)) if action != "clone" else draw(st.sampled_from(["-1", "0", "2", "3", "4", "39", "40", "41"]))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    junk = draw(st.binary(min_size=1, max_size=4))
    return name, index, action, line, ending, junk


def _apply(folder: Path, edit) -> None:
    name, index, action, line, ending, junk = edit
    path = folder / name
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    index = min(index, len(lines) - 1)
    if action == "replace":
        lines[index] = line.encode()
    elif action == "insert":
        lines.insert(index, line.encode())
    elif action == "clone":  # the line again; in a dictionary, with the drawn id
        fields = lines[index].split(b"\t")
        clone = line.encode() + b"\t" + fields[-1] if name.endswith(".dict") else lines[index]
        lines.insert(index + 1, clone)
    elif action == "delete":
        del lines[index]
    elif action == "bytes":
        lines[index] = lines[index][:2] + junk + lines[index][2:]
    else:
        lines = lines[:index]
    path.write_bytes(ending.encode().join(lines))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(_edits(), min_size=1, max_size=3))
def test_malformed_folders_fail_cleanly_or_load(graph: Path, edits) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        shutil.copytree(graph, folder)
        for edit in edits:
            _apply(folder, edit)
        try:
            validate_dataset(folder)
        except DatasetError as exc:
            message = str(exc)
            assert "\n" not in message
            assert any(str(folder / name) in message for name in DATASET_FILES), message
            return
        _neuralkg_reads(folder)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(DATASET_FILES), content=st.binary(max_size=200))
def test_arbitrary_bytes_give_dataset_error(graph: Path, name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        shutil.copytree(graph, folder)
        (folder / name).write_bytes(content)
        try:
            validate_dataset(folder)
        except DatasetError as exc:
            assert str(folder / name) in str(exc) and "\n" not in str(exc)
            return
        _neuralkg_reads(folder)
