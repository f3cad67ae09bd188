"""The sweep's results table (CSV and Markdown, best run first), its state file, and its lines."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from neuralkg_distil.sweep.config import SweepConfig
from neuralkg_distil.sweep.metric import metric_value
from neuralkg_distil.sweep.plan import SweepRun
from neuralkg_distil.sweep.runner import LOG_FILE, Outcome, run_dir

RESULT_COLUMNS = ("valid/mrr", "test/mrr", "test/hits@1", "test/hits@10", "epochs", "wall_time_s")


def point_text(point: Dict[str, Any], names: Sequence[str]) -> str:
    """``lr=0.01 alpha=0.3`` for the parameters that vary."""
    return " ".join(f"{n}={point[n]}" for n in names if n in point)


def varying(config: SweepConfig, runs: Sequence[SweepRun]) -> List[str]:
    """The parameters that differ between the sweep's points, duplicates included (all of them when
    every point is the same)."""
    names = [p.name for p in config.parameters]
    points = [p for r in runs for p in (r.point, *r.duplicates)]
    moving = [n for n in names if len({repr(p.get(n)) for p in points}) > 1]
    return moving or names


def run_line(index: int, total: int, outcome: Outcome, config: SweepConfig, names: Sequence[str]) -> str:
    """One printed line per run."""
    value = metric_value(outcome.results, config.metric) if outcome.results else None
    score = f"  {config.metric} {value:.4f}" if value is not None else ""
    took = f"  ({outcome.seconds:.0f} s)" if outcome.seconds is not None else ""
    dups = f"  (+{len(outcome.run.duplicates)} duplicate point(s))" if outcome.run.duplicates else ""
    return f"[{index}/{total}] {outcome.status:<8} {outcome.run.run_id}  {point_text(outcome.run.point, names)}{score}{took}{dups}"


def row_of(outcome: Outcome, config: SweepConfig, names: Sequence[str], output_dir: Path) -> Dict[str, Any]:
    row: Dict[str, Any] = {"run_id": outcome.run.run_id, "status": outcome.status}
    row.update({n: str(outcome.run.point.get(n)) for n in names})  # as written, not rounded to 4 decimals
    results = outcome.results
    row[config.metric] = metric_value(results, config.metric) if results else None
    for column in RESULT_COLUMNS:
        if column != config.metric:
            row[column] = metric_value(results, column) if results else None
    row["ignored_flags"] = " ".join(outcome.run.unused)
    row["duplicates"] = "; ".join(point_text(p, names) for p in outcome.run.duplicates)
    row["log"] = str(run_dir(output_dir, outcome.run) / LOG_FILE)
    return row


def sorted_rows(rows: List[Dict[str, Any]], metric: str, goal: str) -> List[Dict[str, Any]]:
    """Best first by the metric (``goal``), runs without a value last."""
    sign = -1.0 if goal == "maximize" else 1.0
    ranked = sorted(rows, key=lambda r: (r[metric] is None, sign * (r[metric] or 0.0)))
    return [{"rank": i + 1 if r[metric] is not None else None, **r} for i, r in enumerate(ranked)]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def markdown(rows: Sequence[Dict[str, Any]], title: str) -> str:
    columns = [c for c in rows[0] if c != "log"] if rows else []
    lines = [f"# {title}", "", "| " + " | ".join(c.replace("|", "\\|") for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(r[c]).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_table(outcomes: Sequence[Outcome], config: SweepConfig, output_dir: Path) -> Dict[str, Path]:
    """results.csv and results.md in the sweep's folder, sorted by the metric (atomic writes)."""
    from neuralkg_distil.checkpoint.files import atomic_write_text

    names = varying(config, [o.run for o in outcomes])
    rows = sorted_rows([row_of(o, config, names, output_dir) for o in outcomes], config.metric, config.goal)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    title = f"sweep {config.name or config.source.stem}: {len(rows)} runs, sorted by {config.metric} ({config.goal})"
    return {"csv": atomic_write_text(buffer.getvalue(), output_dir / "results.csv"),
            "markdown": atomic_write_text(markdown(rows, title), output_dir / "results.md")}


def write_state(outcomes: Sequence[Outcome], config: SweepConfig, output_dir: Path, seed: Optional[int]) -> Path:
    """sweep.json: the file, the seed and every run's parameters, ids, duplicates and status."""
    from neuralkg_distil.checkpoint.files import atomic_write_json

    state = {"source": str(config.source), "method": config.method, "metric": config.metric, "goal": config.goal,
             "sample_seed": seed, "runs": [{"run_id": o.run.run_id, "parameters": o.run.point, "status": o.status,
                                            "argv": o.run.argv, "duplicates": o.run.duplicates} for o in outcomes]}
    return atomic_write_json(state, output_dir / "sweep.json")
