"""Errors that reach the user as one line (the CLI prints them and exits with code 2), and warnings."""
import sys



class DistilError(Exception):
    """An error with a one-line message for the user (CLI exit code 2)."""


class DatasetError(DistilError, ValueError):
    """A dataset folder or file is missing or malformed."""


class CheckpointError(DistilError, ValueError):
    """A checkpoint is missing, unreadable, unsafe or does not fit the run."""


class ConfigError(DistilError, ValueError):
    """A flag or setting has a value the run cannot use."""


def warn(message: str) -> None:
    """A one-line warning on stderr (Python's warnings module would add a source line)."""
    print(f"neuralkg-distil: warning: {message}", file=sys.stderr)
