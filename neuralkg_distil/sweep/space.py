"""The points of a sweep: every combination (grid) or seeded draws (random), as {flag: value}."""
from __future__ import annotations

import itertools
import math
import random
from typing import Any, Dict, Iterator, List

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.sweep.config import Parameter, SweepConfig

Point = Dict[str, Any]


def _grid_values(source: Any, param: Parameter) -> List[Any]:
    """A parameter's values on a grid: its list, or every step of a discrete range."""
    if param.distribution in ("constant", "categorical"):
        return list(param.values)
    if param.distribution == "int_uniform":
        return list(range(int(param.low), int(param.high) + 1))
    if param.distribution == "q_uniform":
        steps = int(math.floor((param.high - param.low) / param.q + 1e-9))
        return [_rounded(param.low + i * param.q, param.q) for i in range(steps + 1)]
    raise ConfigError(f"{source}: parameters.{param.name}: method grid needs values or a discrete distribution "
                      f"(int_uniform, q_uniform), got {param.distribution}; use method random")


def grid_points(config: SweepConfig) -> List[Point]:
    """Every combination of the parameters' values, in the file's order (last parameter fastest)."""
    names = [p.name for p in config.parameters]
    columns = [_grid_values(config.source, p) for p in config.parameters]
    return [dict(zip(names, combo)) for combo in itertools.product(*columns)]


def _rounded(value: float, q: float) -> Any:
    """``value`` on the q grid; an int when q is (wandb returns ints for integer q)."""
    snapped = round(value / q) * q
    return int(round(snapped)) if float(q).is_integer() else round(snapped, 12)


def sample_value(param: Parameter, rng: random.Random) -> Any:
    """One draw from a parameter's distribution."""
    kind, low, high = param.distribution, param.low, param.high
    if kind == "constant":
        return param.values[0]
    if kind == "categorical":
        return rng.choices(param.values, weights=param.probabilities)[0] if param.probabilities else rng.choice(param.values)
    if kind == "int_uniform":
        return rng.randint(int(low), int(high))
    if kind == "uniform":
        return rng.uniform(low, high)
    if kind == "q_uniform":
        return _rounded(rng.uniform(low, high), param.q)
    if kind == "log_uniform":  # wandb's: min and max are natural logs of the bounds
        return math.exp(rng.uniform(low, high))
    value = math.exp(rng.uniform(math.log(low), math.log(high)))  # log_uniform_values, q_log_uniform_values
    return _rounded(value, param.q) if kind == "q_log_uniform_values" else value


def random_points(config: SweepConfig, seed: int) -> Iterator[Point]:
    """An endless, reproducible stream of draws (the same seed gives the same points)."""
    rng = random.Random(seed)
    while True:
        yield {p.name: sample_value(p, rng) for p in config.parameters}
