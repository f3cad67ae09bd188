"""Reading the YAML files users write (experiment grids, sweeps, NeuralKG configs): one-line errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from neuralkg_distil.errors import ConfigError


def read_yaml_file(path: Union[str, Path], what: str) -> Any:
    """The parsed file; an unreadable file or bad YAML is a one-line ``ConfigError`` naming ``what``
    (e.g. "sweep file") and, for bad YAML, the line."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not a UTF-8 text file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or str(exc).splitlines()[0]})") from None
