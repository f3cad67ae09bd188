"""Errors that reach the user as one line (the CLI prints them and exits with code 2)."""


class DistilError(Exception):
    """An error with a one-line message for the user (CLI exit code 2)."""


class DatasetError(DistilError, ValueError):
    """A dataset folder or file is missing or malformed."""


class CheckpointError(DistilError, ValueError):
    """A checkpoint is missing, unreadable, unsafe or does not fit the run."""


class ConfigError(DistilError, ValueError):
    """A flag or setting has a value the run cannot use."""
