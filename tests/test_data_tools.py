"""Tests for the dataset tools: the synthetic graph generator and the fetch/verify command."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralkg_distil.data import fetch as fetch_mod
from neuralkg_distil.data.fetch import DATASETS, DatasetError, DatasetSpec, fetch, main, verify
from neuralkg_distil.data.synthetic import generate_graph
from neuralkg_distil.data.synthetic import main as synthetic_main

REPO = Path(__file__).resolve().parent.parent
FILES = ("entities.dict", "relations.dict", "train.txt", "valid.txt", "test.txt")


def _data_root() -> Path:
    return Path(os.environ.get("NEURALKG_DISTIL_DATA", REPO.parent / "shared" / "datasets")).resolve()


@pytest.fixture(scope="module")
def nations_dir() -> Path:
    """The benchmark Nations folder; missing data is a broken setup, so it fails rather than skips."""
    path = _data_root() / "Nations"
    if not all((path / f).is_file() for f in FILES):
        pytest.fail(f"Nations not found at {path}: set NEURALKG_DISTIL_DATA to the benchmark "
                    "datasets folder (default ../shared/datasets beside the repo)")
    return path


# --------------------------------------------------------------------------- helpers


def _read_dict(path: Path) -> list[tuple[int, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        i, name = line.split("\t")
        rows.append((int(i), name))
    return rows


def _read_triples(path: Path) -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        h, r, t = line.split("\t")
        out.append((h, r, t))
    return out


def _check_layout(folder: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Assert the NeuralKG layout rules the generator promises; return the splits."""
    ents = _read_dict(folder / "entities.dict")
    rels = _read_dict(folder / "relations.dict")
    for rows in (ents, rels):
        assert [i for i, _ in rows] == list(range(len(rows))), "ids must be 0..n-1 in order"
        names = [n for _, n in rows]
        assert len(set(names)) == len(names)
        assert all(n and not any(c.isspace() for c in n) for n in names)
    splits = {s: _read_triples(folder / f"{s}.txt") for s in ("train", "valid", "test")}
    train_ents = {e for h, _, t in splits["train"] for e in (h, t)}
    train_rels = {r for _, r, _ in splits["train"]}
    for s in ("valid", "test"):
        for h, r, t in splits[s]:
            assert h in train_ents and t in train_ents and r in train_rels, (s, h, r, t)
    every = splits["train"] + splits["valid"] + splits["test"]
    assert len(set(every)) == len(every), "a triple is repeated within or across splits"
    # The dicts list exactly what the triples use.
    assert {n for _, n in ents} == {e for h, _, t in every for e in (h, t)}
    assert {n for _, n in rels} == {r for _, r, _ in every}
    return splits


# --------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic(tmp_path: Path) -> None:
    a = generate_graph(tmp_path / "a", seed=5)
    b = generate_graph(tmp_path / "b", seed=5)
    c = generate_graph(tmp_path / "c", seed=6)
    for f in FILES:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "train.txt").read_bytes() != (c / "train.txt").read_bytes()


def test_synthetic_default_layout_and_size(tmp_path: Path) -> None:
    folder = generate_graph(tmp_path / "g")
    splits = _check_layout(folder)
    assert len(_read_dict(folder / "entities.dict")) == 300
    assert len(_read_dict(folder / "relations.dict")) == 8
    # Big enough to learn, small enough for seconds per epoch on a CPU.
    assert 3000 <= len(splits["train"]) <= 6000
    assert len(splits["valid"]) > 100 and len(splits["test"]) > 100


@settings(max_examples=15, deadline=None)
@given(
    num_entities=st.integers(4, 120),
    num_relations=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    num_triples=st.one_of(st.none(), st.integers(1, 1500)),
)
def test_synthetic_layout_property(tmp_path_factory: pytest.TempPathFactory, num_entities: int,
                                   num_relations: int, seed: int, num_triples: int | None) -> None:
    folder = generate_graph(tmp_path_factory.mktemp("p") / "g", num_entities=num_entities,
                            num_relations=num_relations, num_triples=num_triples, seed=seed)
    _check_layout(folder)


def test_synthetic_loads_with_neuralkg_sampler(tmp_path: Path) -> None:
    from neuralkg.data import UniSampler
    from neuralkg.utils import setup_parser

    folder = generate_graph(tmp_path / "g", num_entities=80, num_relations=5, seed=1)
    args = setup_parser().parse_args(["--data_path", str(folder), "--num_neg", "4"])
    sampler = UniSampler(args)
    assert args.num_ent == 80 and args.num_rel == 5
    assert len(sampler.train_triples) == len(_read_triples(folder / "train.txt"))
    batch = sampler.sampling(sampler.train_triples[:16])
    assert batch["negative_sample"].shape == (16, 4)


def test_synthetic_cli_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert synthetic_main([str(out), "--entities", "50", "--relations", "3", "--seed", "2"]) == 0
    line = capsys.readouterr().out.strip()
    n_train = len(_read_triples(out / "train.txt"))
    assert "entities=50" in line and "relations=3" in line and f"train={n_train}" in line
    assert synthetic_main([str(tmp_path / "bad"), "--entities", "2"]) == 2


# --------------------------------------------------------------------------- fetch: copy


def _no_leftovers(dest: Path) -> None:
    """Temporary folders of an atomic fetch must never stay behind."""
    if dest.exists():
        assert not [p.name for p in dest.iterdir() if p.name.endswith(".part")]


def test_fetch_from_copies_and_then_skips(tmp_path: Path, nations_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dataset"
    assert main(["nations", "--from", str(nations_dir.parent), "--dest", str(dest)]) == 0
    first = capsys.readouterr().out.strip().splitlines()
    assert len(first) == 1 and first[0].startswith("Nations: copied") and "train=1592" in first[0]
    for f in FILES:
        assert (dest / "Nations" / f).read_bytes() == (nations_dir / f).read_bytes()
    assert main(["Nations", "--from", str(nations_dir.parent), "--dest", str(dest)]) == 0
    assert "already present and verified" in capsys.readouterr().out
    verify(dest / "Nations", "Nations")
    _no_leftovers(dest)


def _corrupted_copy(nations_dir: Path, root: Path) -> Path:
    """A copy of Nations whose train.txt lost its last line."""
    src = root / "Nations"
    shutil.copytree(nations_dir, src)
    lines = (src / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (src / "train.txt").write_text("".join(lines[:-1]), encoding="utf-8")
    return src


def test_fetch_from_dropped_line_names_file(tmp_path: Path, nations_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    src = _corrupted_copy(nations_dir, tmp_path / "src")
    with pytest.raises(DatasetError, match="train.txt: expected 1592 lines, found 1591"):
        verify(src, "Nations")
    dest = tmp_path / "dataset"
    with pytest.raises(DatasetError) as info:
        fetch(["Nations"], dest, source=tmp_path / "src")
    assert str(src / "train.txt") in str(info.value) and "\n" not in str(info.value)
    assert not (dest / "Nations").exists()
    _no_leftovers(dest)
    assert main(["Nations", "--from", str(tmp_path / "src"), "--dest", str(dest)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.txt" in err and "1591" in err


def test_fetch_refuses_to_overwrite_a_bad_existing_folder(tmp_path: Path, nations_dir: Path) -> None:
    _corrupted_copy(nations_dir, tmp_path / "dataset")
    with pytest.raises(DatasetError, match="remove .* to fetch it again"):
        fetch(["Nations"], tmp_path / "dataset", source=nations_dir.parent)


def test_fetch_missing_file_is_named(tmp_path: Path, nations_dir: Path) -> None:
    src = tmp_path / "src" / "Nations"
    shutil.copytree(nations_dir, src)
    (src / "relations.dict").unlink()
    with pytest.raises(DatasetError, match="relations.dict: missing"):
        verify(src, "Nations")


@pytest.mark.slow  # a real process: run by make test and CI
def test_fetch_cli_bad_from_exits_2(tmp_path: Path) -> None:
    """The real ``python -m`` entry point, so argument parsing and the exit code are covered."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "neuralkg_distil.data.fetch", "Nations",
         "--from", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "dataset")],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nowhere" in errors[0]
    assert not (tmp_path / "dataset" / "Nations").exists()


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'Freebase'"):
        fetch(["Freebase"], tmp_path)


# --------------------------------------------------------------------------- fetch: download


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fake_urlopen(served: dict[str, bytes], seen: list[str]) -> Callable[..., io.BytesIO]:
    """Stands in for urllib.request.urlopen: serves bytes by URL, 404 for anything else."""
    def urlopen(url: str, timeout: float | None = None) -> io.BytesIO:
        seen.append(url)
        if url not in served:
            raise urllib.error.HTTPError(url, 404, "Not Found", hdrs=None, fp=None)  # type: ignore[arg-type]
        return io.BytesIO(served[url])
    return urlopen


def test_download_conve_tarball_builds_dicts(tmp_path: Path, nations_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # ConvE's archives use "./" member names; CRLF endings check the normalisation.
    members = {f"./{s}": (nations_dir / s).read_bytes().replace(b"\n", b"\r\n")
               for s in ("train.txt", "valid.txt", "test.txt")}
    url = f"{fetch_mod.CONVE_RAW}/nations.tar.gz"
    seen: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen({url: _tarball(members)}, seen))
    (path,) = fetch(["Nations"], tmp_path / "dataset")
    assert seen == [url]
    # Numbering by first appearance reproduces the reference dicts byte for byte.
    for f in FILES:
        assert (path / f).read_bytes() == (nations_dir / f).read_bytes(), f
    assert not (path / ".archive.tar.gz").exists()
    _no_leftovers(tmp_path / "dataset")


def test_download_neuralkg_files_with_conve_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small synthetic graph stands in for FB15K237 so the test serves kilobytes, not megabytes.
    graph = generate_graph(tmp_path / "fake", num_entities=40, num_relations=3, seed=4)
    counts = [len((graph / f).read_text().splitlines()) for f in FILES]
    monkeypatch.setitem(DATASETS, "FB15K237",
                        DatasetSpec("FB15K237", *counts, source="neuralkg", conve_archive="FB15k-237.tar.gz"))
    served = {f"{fetch_mod.NEURALKG_RAW}/FB15K237/{f}": (graph / f).read_bytes()
              for f in FILES if f != "train.txt"}
    served[f"{fetch_mod.CONVE_RAW}/FB15k-237.tar.gz"] = _tarball(
        {"Release/train.txt": (graph / "train.txt").read_bytes()})
    seen: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(served, seen))
    (path,) = fetch(["fb15k237"], tmp_path / "dataset")
    assert sorted(seen) == sorted(served)
    for f in FILES:
        assert (path / f).read_bytes() == (graph / f).read_bytes(), f


def test_download_count_mismatch_names_file(tmp_path: Path, nations_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    short = b"".join((nations_dir / "valid.txt").read_bytes().splitlines(keepends=True)[:-2])
    members = {"train.txt": (nations_dir / "train.txt").read_bytes(), "valid.txt": short,
               "test.txt": (nations_dir / "test.txt").read_bytes()}
    url = f"{fetch_mod.CONVE_RAW}/nations.tar.gz"
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen({url: _tarball(members)}, []))
    with pytest.raises(DatasetError, match="valid.txt .*expected 199 lines, found 197"):
        fetch(["Nations"], tmp_path / "dataset")
    assert not (tmp_path / "dataset" / "Nations").exists()
    _no_leftovers(tmp_path / "dataset")


def test_download_network_failure_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def offline(url: str, timeout: float | None = None) -> io.BytesIO:
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    dest = tmp_path / "dataset"
    assert main(["UMLS", "--dest", str(dest)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{fetch_mod.CONVE_RAW}/umls.tar.gz" in err and "--from" in err
    assert not (dest / "UMLS").exists()
    _no_leftovers(dest)
