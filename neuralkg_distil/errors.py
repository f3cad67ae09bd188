"""Errors that reach the user as one line (the CLI prints them and exits with code 2), and warnings."""
import difflib
import sys
from typing import Iterable, Optional



class DistilError(Exception):
    """An error with a one-line message for the user (CLI exit code 2)."""


class DatasetError(DistilError, ValueError):
    """A dataset folder or file is missing or malformed."""


class CheckpointError(DistilError, ValueError):
    """A checkpoint is missing, unreadable, unsafe or does not fit the run."""


class ConfigError(DistilError, ValueError):
    """A flag or setting has a value the run cannot use."""


def warn(message: str) -> None:
    """A one-line warning on stderr (Python's warnings module would add a source line); once per
    run, so not from the worker processes of a DDP run."""
    from neuralkg_distil.run.runtime import is_rank_zero

    if not is_rank_zero():
        return
    print(f"neuralkg-distil: warning: {message}", file=sys.stderr)


def suggest(name: str, choices: Iterable[str]) -> Optional[str]:
    """The closest of ``choices`` to a misspelt ``name`` (case-insensitive), or None."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """"; did you mean X?" for the closest valid name, or ""."""
    match = suggest(name, [v for v in valid if v != name])
    return f"; did you mean {match}?" if match else ""
