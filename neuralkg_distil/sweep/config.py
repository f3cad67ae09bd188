"""A wandb sweep file, read and checked: one-line errors that name the file, the key and the value.

Only keys wandb's own sweep schema knows are accepted, so a file that runs here also runs with
``wandb sweep`` online; what is ours alone (the sampling seed, the number of runs, the output
folder) comes as flags of ``neuralkg-distil sweep``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from neuralkg_distil.errors import ConfigError, did_you_mean
from neuralkg_distil.sweep.metric import DEFAULT_METRIC, check_metric_name

# wandb's top-level sweep keys (https://docs.wandb.ai/guides/sweeps/sweep-config-keys)
TOP_LEVEL_KEYS = ("program", "method", "metric", "parameters", "command", "name", "description", "project",
                  "entity", "early_terminate", "run_cap", "job", "image_uri")
METHODS = ("grid", "random", "bayes")
PARAMETER_KEYS = ("value", "values", "distribution", "min", "max", "q", "mu", "sigma", "probabilities")
# distributions the local runner samples; wandb's others (normal, ...) are refused by name
DISTRIBUTIONS = ("constant", "categorical", "uniform", "int_uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "q_log_uniform_values")
RANGE_DISTRIBUTIONS = DISTRIBUTIONS[2:]


@dataclass
class Parameter:
    """One entry of ``parameters``: a constant, a list of values, or a distribution over [min, max]."""

    name: str
    distribution: str
    values: List[Any] = field(default_factory=list)  # constant: one value; categorical: the choices
    low: Optional[float] = None
    high: Optional[float] = None
    q: Optional[float] = None
    probabilities: Optional[List[float]] = None


@dataclass
class SweepConfig:
    source: Path
    method: str
    parameters: List[Parameter]
    metric: str = DEFAULT_METRIC
    goal: str = "maximize"
    run_cap: Optional[int] = None
    command: List[str] = field(default_factory=list)
    name: Optional[str] = None
    program: Optional[str] = None


def _fail(source: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {message}")


def read_yaml(path: Path) -> Mapping[str, Any]:
    """The file's top-level mapping (a missing file or bad YAML is one line)."""
    from neuralkg_distil.yaml_files import read_yaml_file

    data = read_yaml_file(path, "sweep file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping with method and parameters, got {type(data).__name__}")
    return data


def _method(source: Path, data: Mapping[str, Any]) -> str:
    method = data.get("method")
    if method is None:
        raise _fail(source, "method", "missing (grid or random)")
    if method == "bayes":
        raise _fail(source, "method", "bayes needs wandb's sweep server: run `wandb sweep FILE` and `wandb agent <id>` online")
    if method not in METHODS:
        raise _fail(source, "method", f"unknown method {method!r}; valid: grid, random{did_you_mean(str(method), METHODS)}")
    return method


def _metric(source: Path, data: Mapping[str, Any]) -> Dict[str, str]:
    metric = data.get("metric")
    if metric is None:
        return {"name": DEFAULT_METRIC, "goal": "maximize"}
    if not isinstance(metric, dict) or "name" not in metric:
        raise _fail(source, "metric", f"a mapping with name and goal, got {metric!r}")
    goal = metric.get("goal", "minimize")  # wandb's default goal
    if goal not in ("minimize", "maximize"):
        raise _fail(source, "metric.goal", f"minimize or maximize, got {goal!r}")
    check_metric_name(str(metric["name"]), f"{source}: metric.name")
    return {"name": str(metric["name"]), "goal": goal}


def _number(source: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(source, key, f"a number, got {value!r}")
    return float(value)


def _range(source: Path, name: str, spec: Mapping[str, Any], distribution: str) -> Parameter:
    key = f"parameters.{name}"
    for bound in ("min", "max"):
        if bound not in spec:
            raise _fail(source, key, f"distribution {distribution} needs min and max")
    low, high = _number(source, f"{key}.min", spec["min"]), _number(source, f"{key}.max", spec["max"])
    if low > high:
        raise _fail(source, key, f"min {spec['min']} is above max {spec['max']}")
    if distribution in ("log_uniform_values", "q_log_uniform_values") and low <= 0:
        raise _fail(source, f"{key}.min", f"{distribution} needs min > 0, got {spec['min']}")
    if distribution == "int_uniform" and not all(isinstance(spec[b], int) for b in ("min", "max")):
        raise _fail(source, key, f"int_uniform needs integer min and max, got {spec['min']!r}, {spec['max']!r}")
    q = _number(source, f"{key}.q", spec.get("q", 1)) if distribution.startswith("q_") else None
    if q is not None and q <= 0:
        raise _fail(source, f"{key}.q", f"must be positive, got {spec.get('q')}")
    return Parameter(name, distribution, low=low, high=high, q=q)


def _inferred_distribution(spec: Mapping[str, Any]) -> str:
    """wandb's rule when ``distribution`` is left out."""
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical"
    ints = all(isinstance(spec.get(b), int) and not isinstance(spec.get(b), bool) for b in ("min", "max"))
    return "int_uniform" if ints else "uniform"


def _parameter(source: Path, name: str, spec: Any) -> Parameter:
    key = f"parameters.{name}"
    if not isinstance(spec, dict):
        raise _fail(source, key, f"a mapping with value, values or distribution, got {spec!r}")
    if "parameters" in spec:
        raise _fail(source, key, "nested parameters are not supported locally (flags are flat)")
    for item in spec:
        if item not in PARAMETER_KEYS:
            raise _fail(source, f"{key}.{item}", f"unknown key; valid: {', '.join(PARAMETER_KEYS)}{did_you_mean(str(item), PARAMETER_KEYS)}")
    distribution = spec.get("distribution") or _inferred_distribution(spec)
    if distribution not in DISTRIBUTIONS:
        raise _fail(source, f"{key}.distribution", f"{distribution!r} is not supported locally; "
                    f"valid: {', '.join(DISTRIBUTIONS)}{did_you_mean(str(distribution), DISTRIBUTIONS)}")
    if distribution == "constant":
        if "value" not in spec:
            raise _fail(source, key, "distribution constant needs value")
        return Parameter(name, distribution, [spec["value"]])
    if distribution == "categorical":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise _fail(source, f"{key}.values", f"a non-empty list, got {values!r}")
        return Parameter(name, distribution, list(values), probabilities=spec.get("probabilities"))
    return _range(source, name, spec, distribution)


def _command(source: Path, data: Mapping[str, Any]) -> List[str]:
    command = data.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, (str, int, float)) for c in command):
        raise _fail(source, "command", f"a list of strings, got {command!r}")
    return [str(c) for c in command]


LOCAL_PROGRAMS = ("main.py", "neuralkg-distil", "neuralkg_distil.cli.main")


def _program(source: Path, data: Mapping[str, Any]) -> Optional[str]:
    """The local runner trains through our CLI, so it accepts only programs that are that CLI."""
    program = data.get("program")
    if program is not None and Path(str(program)).name not in LOCAL_PROGRAMS:
        raise _fail(source, "program", f"{program!r}: the local runner runs neuralkg-distil trainings only "
                    f"({', '.join(LOCAL_PROGRAMS)}); run other programs with `wandb agent`")
    return None if program is None else str(program)


def _run_cap(source: Path, data: Mapping[str, Any]) -> Optional[int]:
    cap = data.get("run_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise _fail(source, "run_cap", f"a positive integer, got {cap!r}")
    return cap


def load_sweep(path: Any) -> SweepConfig:
    """Read and check a sweep file; every problem is a one-line :class:`ConfigError`."""
    source = Path(path)
    data = read_yaml(source)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise _fail(source, str(key), f"unknown key (wandb's keys: {', '.join(TOP_LEVEL_KEYS)}){did_you_mean(str(key), TOP_LEVEL_KEYS)}")
    method = _method(source, data)
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise _fail(source, "parameters", f"a non-empty mapping of flag names, got {parameters!r}")
    metric = _metric(source, data)
    return SweepConfig(
        source=source, method=method, parameters=[_parameter(source, str(n), s) for n, s in parameters.items()],
        metric=metric["name"], goal=metric["goal"], run_cap=_run_cap(source, data), command=_command(source, data),
        name=data.get("name"), program=_program(source, data),
    )
