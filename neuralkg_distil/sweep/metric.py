"""The sweep's metric: a name in a sweep file, looked up in a finished run's results.json.

Accepted names: Lightning's logged names (``Eval|mrr`` is the validation MRR, ``Test|mrr`` the
test one), the run-summary names our wandb runs get (``valid/student/mrr``, ``test/model/hits@10``,
``epochs``, ``wall_time_s``), and ``<split>/<metric>`` for the run's main model (the student of a
distillation, the model of a pretraining).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from neuralkg_distil.errors import ConfigError

DEFAULT_METRIC = "valid/mrr"
METRICS = ("mr", "mrr", "hits@1", "hits@3", "hits@10")
SPLITS = {"eval": "valid", "valid": "valid", "val": "valid", "test": "test"}
SCALARS = ("epochs", "wall_time_s")


def _parts(name: str) -> Optional[tuple]:
    """(split, role or None, metric) of a per-split metric name, or None when it is not one."""
    lowered = name.lower()
    if "|" in lowered:
        split, _, metric = lowered.partition("|")
        return (SPLITS[split], None, metric) if split in SPLITS and metric in METRICS else None
    pieces = lowered.split("/")
    if len(pieces) == 2 and pieces[0] in SPLITS and pieces[1] in METRICS:
        return SPLITS[pieces[0]], None, pieces[1]
    if len(pieces) == 3 and pieces[0] in SPLITS and pieces[2] in METRICS:
        return SPLITS[pieces[0]], pieces[1], pieces[2]
    return None


def check_metric_name(name: str, where: str) -> None:
    """One line for a metric name the local runner cannot read from results.json."""
    if name not in SCALARS and _parts(name) is None:
        raise ConfigError(f"{where}: unknown metric {name!r}; valid: Eval|mrr, Test|hits@10, valid/mrr, "
                          f"test/student/mrr, ... ({', '.join(METRICS)}), {', '.join(SCALARS)}")


def main_role(results: Dict[str, Any]) -> str:
    """The summary name of the run's trained model: ``student`` for a distillation, else ``model``."""
    return "student" if results.get("kind") == "distil" else "model"


def metric_value(results: Dict[str, Any], name: str) -> Optional[float]:
    """The metric ``name`` of a finished run (None where results.json does not hold it)."""
    from neuralkg_distil.run.results import wandb_summary

    summary = wandb_summary(results)
    if name in SCALARS:
        return summary.get(name)
    split, role, metric = _parts(name)
    value = summary.get(f"{split}/{role or main_role(results)}/{metric}")
    return None if value is None else float(value)
