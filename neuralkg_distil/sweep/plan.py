"""From sweep points to runs: each point's training flags, the flags that decide its result, its
run id, and the points that would train the same thing twice.

Two points are the same run when every flag that reaches the training is equal once the flags it
ignores are left out (alpha and beta under learned soft-label weights, beta outside stage 2:
:func:`neuralkg_distil.run.checks.unused_weights`). The run id is a hash of those effective
flags, so it stays the same for the same parameters and a changed setting makes a new run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from neuralkg_distil.errors import ConfigError, did_you_mean
from neuralkg_distil.sweep.config import SweepConfig
from neuralkg_distil.sweep.space import Point, grid_points, random_points

# where a run writes or how it prints: not part of what it trains
LOCATION_FLAGS = frozenset({"run_dir", "output_dir", "overwrite", "resume", "use_wandb", "enable_progress_bar",
                            "enable_model_summary", "verbose", "save_config", "load_config", "config_path"})
MAX_DRAWS_PER_RUN = 50  # random: draws tried per wanted run before giving up on finding distinct ones


@dataclass
class SweepRun:
    """One training of the sweep: its parameters, its flags, and the points that duplicate it."""

    run_id: str
    point: Point
    argv: List[str]
    unused: List[str] = field(default_factory=list)
    duplicates: List[Point] = field(default_factory=list)


def training_parser() -> argparse.ArgumentParser:
    """The training command's parser (our classes registered first, as the CLI does)."""
    import neuralkg_distil
    from neuralkg_distil.cli.parser import build_parser

    neuralkg_distil.register()
    return build_parser()


def check_value(source: Any, name: str, value: Any, parser: argparse.ArgumentParser) -> None:
    """One line for a parameter that is not a training flag, or a value the flag cannot take."""
    actions = {a.dest: a for a in parser._actions}  # noqa: SLF001 (argparse has no public index)
    action = actions.get(name)
    if action is None or not action.option_strings:
        raise ConfigError(f"{source}: parameters.{name}: not a training flag{did_you_mean(name, list(actions))} "
                          "(see neuralkg-distil --help)")
    for item in value if isinstance(value, list) and action.nargs not in (None, "?") else [value]:  # nargs flags: each
        text = str(item).lower() if isinstance(item, bool) else str(item)
        try:
            converted = action.type(text) if callable(action.type) else text
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            raise ConfigError(f"{source}: parameters.{name}: value {item!r} is not a valid --{name}") from None
        if action.choices is not None and converted not in action.choices:
            raise ConfigError(f"{source}: parameters.{name}: value {item!r} is not one of "
                              f"{', '.join(map(str, action.choices))}{did_you_mean(str(item), map(str, action.choices))}")


MACROS_WITHOUT_FLAGS = ("${env}", "${interpreter}", "${program}")


def literal_flags(command: Iterable[str]) -> List[str]:
    """The fixed flags of a wandb ``command`` (what follows ``${program}``, macros and ``--use_wandb``
    left out: local runs are offline and need no account)."""
    items = list(command)
    if "${program}" in items:
        items = items[items.index("${program}") + 1:]
    return [c for c in items if not (c.startswith("${") and c.endswith("}")) and c != "--use_wandb"
            and c not in MACROS_WITHOUT_FLAGS]


def point_argv(config: SweepConfig, point: Point, parser: argparse.ArgumentParser) -> List[str]:
    """The training flags of one point: the command's fixed flags, then the point's parameters."""
    from neuralkg_distil.cli.parser import render_flags

    for name, value in point.items():
        check_value(config.source, name, value, parser)
    return literal_flags(config.command) + render_flags(point, parser, f"{config.source}: parameters")


def effective_flags(argv: List[str]) -> Tuple[Dict[str, Any], List[str]]:
    """Every flag value that decides a training's result (defaults and preset included), and the
    given flags it ignores."""
    from neuralkg_distil.cli.parser import parse_args, phase_of
    from neuralkg_distil.run.checks import unused_weights

    args = parse_args(argv)
    unused = unused_weights(args, distil=phase_of(args) != "pretrain")
    values = {k: v for k, v in sorted(vars(args).items())
              if not k.startswith("_") and k not in LOCATION_FLAGS and k not in unused}
    return values, [n for n in unused if n in args._explicit]


def run_id_of(effective: Dict[str, Any]) -> str:
    """A stable id from the effective flags (``r`` and 10 hex digits)."""
    text = json.dumps(effective, sort_keys=True, default=str)
    return "r" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def _add_point(config: SweepConfig, point: Point, parser: argparse.ArgumentParser,
               runs: Dict[str, SweepRun]) -> bool:
    """Add the point's run, or record it as a duplicate of an earlier one; True when the run is new."""
    argv = point_argv(config, point, parser)
    try:
        effective, unused = effective_flags(argv)
    except SystemExit:  # argparse has printed its one line already
        raise ConfigError(f"{config.source}: parameters {point}: the training flags are refused (above)") from None
    run_id = run_id_of(effective)
    if run_id in runs:
        runs[run_id].duplicates.append(point)
        return False
    runs[run_id] = SweepRun(run_id, point, argv, unused)
    return True


def wanted_runs(config: SweepConfig, count: Optional[int]) -> Optional[int]:
    """How many distinct runs to make: --count, else the file's run_cap; a random sweep needs one."""
    wanted = count if count is not None else config.run_cap
    if wanted is not None and wanted < 1:
        raise ConfigError(f"--count must be at least 1, got {wanted}")
    if config.method == "random" and wanted is None:
        raise ConfigError(f"{config.source}: method random draws forever: give --count N or a run_cap key")
    return wanted


def plan_runs(config: SweepConfig, count: Optional[int] = None, seed: int = 0,
              parser: Optional[argparse.ArgumentParser] = None) -> List[SweepRun]:
    """The sweep's distinct runs in order: a grid's combinations (the first ``count``), or the first
    ``count`` distinct draws of a random sweep seeded with ``seed``."""
    parser = parser or training_parser()
    wanted = wanted_runs(config, count)
    runs: Dict[str, SweepRun] = {}
    if config.method == "grid":
        for point in grid_points(config):
            if wanted is not None and len(runs) >= wanted:
                break
            _add_point(config, point, parser, runs)
        return list(runs.values())
    draws = random_points(config, seed)
    for _ in range(wanted * MAX_DRAWS_PER_RUN):
        if len(runs) >= wanted:
            break
        _add_point(config, next(draws), parser, runs)
    return list(runs.values())
