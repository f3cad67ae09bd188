"""The cached ``--help`` text: ``neuralkg-distil --help`` prints it without importing torch, Lightning
and NeuralKG; it is keyed on the sources that decide the flags and rewritten with
``python -m neuralkg_distil.cli.help_cache --write``.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Optional, Sequence

HELP_FILE = Path(__file__).with_name("help.txt")
# The files whose code decides the flags, their help and their defaults.
_SOURCES = ("parser.py", "flag_help.py", "output.py")


def help_key() -> str:
    """Changes whenever the flags or their help can change: our sources, NeuralKG's and Lightning's versions."""
    from importlib import metadata

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _SOURCES:
        path = here / name
        digest.update(path.read_bytes() if path.is_file() else b"")
    for dist in ("neuralkg", "pytorch-lightning"):
        try:
            digest.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=none".encode())
    digest.update(f"python={sys.version_info[:2]}".encode())
    return digest.hexdigest()[:16]


def cached_help() -> Optional[str]:
    """The help text written by :func:`write_help`, if still current; else None."""
    try:
        text = HELP_FILE.read_text(encoding="utf-8")
    except OSError:
        return None
    first, _, body = text.partition("\n")
    return body if first == f"# key {help_key()}" else None


def live_help() -> str:
    import neuralkg_distil  # noqa: F401
    from neuralkg_distil.cli.parser import build_parser

    return build_parser().format_help()


def write_help(path: Path = HELP_FILE) -> Path:
    path.write_text(f"# key {help_key()}\n{live_help()}", encoding="utf-8")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.cli.help_cache", description="Rewrite the cached --help text.")
    parser.add_argument("--write", action="store_true", help=f"write {HELP_FILE.name} from the live parser")
    parser.add_argument("--check", action="store_true", help="exit 1 when the cached help is stale")
    args = parser.parse_args(argv)
    from neuralkg_distil.cli.output import configure_output

    configure_output()
    if args.write:
        print(f"wrote {write_help()}")
    if args.check and cached_help() != live_help():
        print(f"{HELP_FILE} is stale: run python -m neuralkg_distil.cli.help_cache --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
