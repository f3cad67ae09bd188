"""Fetch the benchmark graphs into NeuralKG's dataset layout and check them.

``python -m neuralkg_distil.data.fetch [NAMES ...] [--from DIR] [--dest dataset]``

With ``--from DIR`` each dataset is copied from ``DIR/NAME`` (for machines without
internet, or a shared copy); otherwise it is downloaded:

* WN18RR and FB15K237 from NeuralKG's repository (``dataset/NAME``). FB15K237's
  ``train.txt`` comes from the ConvE release, as in the reference copy the counts describe;
* UMLS, Kinship and Nations from the ConvE release (``<name>.tar.gz``); their
  ``entities.dict`` and ``relations.dict`` are numbered in order of first appearance over
  train, valid and test.

Every dataset is written to a temporary folder next to its destination, checked (files
present, line counts as published) and only then renamed into place, so an interrupted
fetch never leaves a half-written dataset behind.
"""
from __future__ import annotations

import argparse
import http.client
import secrets
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from neuralkg_distil.errors import DatasetError

NEURALKG_RAW = "https://raw.githubusercontent.com/zjukg/NeuralKG/main/dataset"
CONVE_RAW = "https://raw.githubusercontent.com/TimDettmers/ConvE/master"
TIMEOUT_S = 60

FILES = ("entities.dict", "relations.dict", "train.txt", "valid.txt", "test.txt")
SPLITS = ("train.txt", "valid.txt", "test.txt")


@dataclass(frozen=True)
class DatasetSpec:
    """Published line counts of one dataset and where to download it."""

    name: str
    entities: int
    relations: int
    train: int
    valid: int
    test: int
    # "neuralkg": the five files from NeuralKG's repo; "conve": splits from a ConvE tarball.
    source: str
    conve_archive: Optional[str] = None

    def expected(self) -> dict[str, int]:
        """Expected number of (non-empty) lines per file."""
        return dict(zip(FILES, (self.entities, self.relations, self.train, self.valid, self.test)))


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("WN18RR", 40943, 11, 86835, 3034, 3134, "neuralkg"),
        # NeuralKG's dicts, valid and test; train from the ConvE release.
        DatasetSpec("FB15K237", 14541, 237, 272115, 17535, 20466, "neuralkg", "FB15k-237.tar.gz"),
        DatasetSpec("UMLS", 135, 46, 5216, 652, 661, "conve", "umls.tar.gz"),
        DatasetSpec("Kinship", 104, 25, 8544, 1068, 1074, "conve", "kinship.tar.gz"),
        DatasetSpec("Nations", 14, 55, 1592, 199, 201, "conve", "nations.tar.gz"),
    )
}


class DownloadError(DatasetError):
    """A download failed (no network, HTTP error, broken archive)."""


def canonical_name(name: str) -> str:
    """The dataset's canonical spelling (names are matched case-insensitively)."""
    for known in DATASETS:
        if known.lower() == name.lower():
            return known
    raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def _count_lines(path: Path) -> int:
    # Blank lines (a trailing one, say) are not records; NeuralKG's loader would choke on
    # them anyway, but the published counts are of records.
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _verify(path: Path, name: str, label: Callable[[str], str]) -> dict[str, int]:
    spec = DATASETS[canonical_name(name)]
    for file in FILES:
        if not (path / file).is_file():
            raise DatasetError(f"{label(file)}: missing (every dataset needs {', '.join(FILES)})")
    found: dict[str, int] = {}
    for file, expected in spec.expected().items():
        found[file] = _count_lines(path / file)
        if found[file] != expected:
            raise DatasetError(f"{label(file)}: expected {expected} lines, found {found[file]}")
    return found


def verify(path: str | Path, name: str) -> None:
    """Check that ``path`` holds dataset ``name``: all five files with the published line counts.

    Raises ``DatasetError`` with a one-line message naming the file on any problem.
    """
    path = Path(path)
    _verify(path, name, lambda file: str(path / file))


def _summary(counts: dict[str, int]) -> str:
    return (f"entities={counts['entities.dict']} relations={counts['relations.dict']} "
            f"train={counts['train.txt']} valid={counts['valid.txt']} test={counts['test.txt']}")


# --------------------------------------------------------------------------- sources


def _find_source(source: Path, name: str) -> Path:
    if not source.is_dir():
        raise DatasetError(f"--from {source}: no such folder")
    exact = source / name
    if exact.is_dir():
        return exact
    # Some copies spell the folder in lower case (ConvE's "nations", "umls").
    for child in sorted(source.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    raise DatasetError(f"{exact}: not found (--from {source} has no {name} folder)")


def _copy(source_dir: Path, tmp: Path, name: str) -> None:
    """Copy the five files; checking the source first makes an error name the user's file."""
    _verify(source_dir, name, lambda file: str(source_dir / file))
    for file in FILES:
        shutil.copyfile(source_dir / file, tmp / file)


def _download(url: str, target: Path) -> None:
    """Stream ``url`` into ``target``; any network problem becomes a one-line DownloadError."""
    try:
        # Called through the module so tests can swap urlopen for a fake server.
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(
            f"could not download {url}: {reason}; without internet, copy a local copy with --from DIR"
        ) from exc


def _normalised_lines(raw: bytes, origin: str) -> list[str]:
    """Text lines without CR or blank lines; a split's lines must hold three fields."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DownloadError(f"{origin}: not UTF-8 text ({exc.reason})") from exc
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def _archive_splits(archive: Path, url: str, wanted: Sequence[str]) -> dict[str, list[str]]:
    """Read split files out of a ConvE tarball without extracting it (no path tricks possible)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            out: dict[str, list[str]] = {}
            for file in wanted:
                # Members may be "train.txt", "./train.txt" or "nations/train.txt".
                matches = sorted((m for m in members if Path(m.name).name == file),
                                 key=lambda m: len(m.name))
                if not matches:
                    raise DownloadError(f"{url}: archive has no {file}")
                handle = tar.extractfile(matches[0])
                assert handle is not None  # a regular file always has a handle
                out[file] = _normalised_lines(handle.read(), f"{url}:{matches[0].name}")
            return out
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{url}: not a readable .tar.gz archive ({exc})") from exc


def _split_fields(line: str, origin: str) -> list[str]:
    fields = line.split()
    if len(fields) != 3:
        raise DownloadError(f"{origin}: line {line[:60]!r} is not head, relation, tail")
    return fields


def _download_dataset(spec: DatasetSpec, tmp: Path) -> Callable[[str], str]:
    """Fill ``tmp`` from the public sources; returns how to name each file's origin in errors."""
    origins: dict[str, str] = {}
    if spec.source == "neuralkg":
        files = [f for f in FILES if not (spec.conve_archive and f == "train.txt")]
        for file in files:
            url = f"{NEURALKG_RAW}/{spec.name}/{file}"
            _download(url, tmp / file)
            # CRLF from some mirrors would end up inside relation names; normalise.
            _write_lines(tmp / file, _normalised_lines((tmp / file).read_bytes(), url))
            origins[file] = url
        if spec.conve_archive:
            url = f"{CONVE_RAW}/{spec.conve_archive}"
            archive = tmp / ".archive.tar.gz"
            _download(url, archive)
            _write_lines(tmp / "train.txt", _archive_splits(archive, url, ["train.txt"])["train.txt"])
            archive.unlink()
            origins["train.txt"] = f"{url}:train.txt"
    else:
        url = f"{CONVE_RAW}/{spec.conve_archive}"
        archive = tmp / ".archive.tar.gz"
        _download(url, archive)
        splits = _archive_splits(archive, url, SPLITS)
        archive.unlink()
        # Ids in order of first appearance, head before tail, over train, valid, test.
        entities: dict[str, int] = {}
        relations: dict[str, int] = {}
        for file in SPLITS:
            for line in splits[file]:
                h, r, t = _split_fields(line, f"{url}:{file}")
                entities.setdefault(h, len(entities))
                relations.setdefault(r, len(relations))
                entities.setdefault(t, len(entities))
            _write_lines(tmp / file, splits[file])
            origins[file] = f"{url}:{file}"
        _write_lines(tmp / "entities.dict", (f"{i}\t{e}" for e, i in entities.items()))
        _write_lines(tmp / "relations.dict", (f"{i}\t{r}" for r, i in relations.items()))
        origins["entities.dict"] = origins["relations.dict"] = f"built from {url}"
    return lambda file: f"{spec.name}/{file} ({origins.get(file, 'download')})"


# --------------------------------------------------------------------------- fetch


def fetch(
    names: Optional[Iterable[str]],
    dest: str | Path,
    source: Optional[str | Path] = None,
    echo: Optional[Callable[[str], None]] = None,
) -> list[Path]:
    """Fetch datasets into ``dest/NAME`` and return their folders.

    ``names``: dataset names (case-insensitive); None or empty means all five.
    ``source``: a folder holding ``NAME`` subfolders to copy from; None downloads.
    ``echo``: called with one line per dataset (the CLI passes ``print``).
    A dataset already present and verified is left alone. Raises ``DatasetError``
    (``DownloadError`` for network problems) with a one-line message.
    """
    wanted = [canonical_name(n) for n in names] if names else list(DATASETS)
    wanted = list(dict.fromkeys(wanted))  # a name given twice is fetched once
    dest = Path(dest)
    source_path = Path(source) if source is not None else None
    say = echo or (lambda line: None)
    done: list[Path] = []
    for name in wanted:
        target = dest / name
        if target.exists():
            try:
                counts = _verify(target, name, lambda file: str(target / file))
            except DatasetError as exc:
                raise DatasetError(f"{exc} (remove {target} to fetch it again)") from exc
            say(f"{name}: already present and verified in {target} ({_summary(counts)})")
            done.append(target)
            continue
        dest.mkdir(parents=True, exist_ok=True)
        # The temporary folder sits next to the target so the final rename stays on one
        # filesystem and is atomic.
        # mkdir rather than mkdtemp: the folder becomes the dataset, so it gets the usual
        # permissions (umask), not mkdtemp's owner-only ones.
        tmp = dest / f".{name}.{secrets.token_hex(4)}.part"
        tmp.mkdir()
        try:
            if source_path is not None:
                origin = _find_source(source_path, name)
                _copy(origin, tmp, name)
                label: Callable[[str], str] = lambda file, o=origin: str(o / file)
                how = f"copied from {origin}"
            else:
                label = _download_dataset(DATASETS[name], tmp)
                how = "downloaded"
            counts = _verify(tmp, name, label)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        say(f"{name}: {how} into {target} ({_summary(counts)})")
        done.append(target)
    return done


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry point; returns the exit code (2 on any dataset or network error)."""
    parser = argparse.ArgumentParser(
        prog="python -m neuralkg_distil.data.fetch",
        description="Fetch knowledge-graph benchmarks into NeuralKG's dataset layout and verify them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"datasets to fetch (default: all of {', '.join(DATASETS)})")
    parser.add_argument("--from", dest="source", metavar="DIR", default=None,
                        help="copy DIR/NAME instead of downloading")
    parser.add_argument("--dest", default="dataset", help="destination folder (default: dataset)")
    args = parser.parse_args(argv)
    try:
        fetch(args.names, args.dest, args.source, echo=print)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
