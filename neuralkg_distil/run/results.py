"""Plain-text tables of results (printed by the CLI and the demo)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence

METRIC_COLUMNS = ("mr", "mrr", "hits@1", "hits@3", "hits@10")


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> str:
    """Align ``rows`` (dicts) under ``columns``; floats get 4 decimals (MR 1)."""

    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            return f"{value:.1f}" if column == "mr" else f"{value:.4f}"
        if isinstance(value, int) and column == "params":
            return f"{value:,}"
        return "" if value is None else str(value)

    body: List[List[str]] = [[cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in body]
    return "\n".join(lines)


def model_rows(results: Dict[str, Any], split: str = "test", labels: Dict[str, str] | None = None) -> Iterable[Dict[str, Any]]:
    """One row per model in a results dict written by ``cli.train``."""
    for role, info in results["models"].items():
        label = (labels or {}).get(role, role if role != "model" else "student" if results["kind"] == "distil" else "model")
        yield {"model": label, "class": info["model_name"], "dim": info["emb_dim"], "params": info["params"], **info[split]}


def format_results(results: Dict[str, Any], split: str = "test", title: str | None = None) -> str:
    """The filtered link-prediction metrics of every model in ``results`` as a table."""
    title = title or f"{results['kind']}" + (f" stage {results['stage']}" if results.get("stage") else "")
    rows = list(model_rows(results, split))
    return f"\n{title}: filtered {split} metrics (ties: mean of optimistic and pessimistic rank)\n" + table(
        rows, ("model", "class", "dim", "params") + METRIC_COLUMNS
    )


def wandb_summary(results: Dict[str, Any]) -> Dict[str, Any]:
    """Flat ``<split>/<role>/<metric>`` and ``params/<role>`` entries of a results dict (wandb's run summary)."""
    summary: Dict[str, Any] = {"epochs": results.get("epochs"), "wall_time_s": results.get("wall_time_s")}
    for role, info in results["models"].items():
        name = "student" if role == "model" and results["kind"] == "distil" else role
        summary[f"params/{name}"] = info["params"]
        summary[f"dim/{name}"] = info["emb_dim"]
        for split in ("valid", "test"):
            for metric, value in info.get(split, {}).items():
                summary[f"{split}/{name}/{metric}"] = value
    return summary


def log_to_wandb(logger: Any, results: Dict[str, Any]) -> None:
    """The final results into a WandbLogger's run: summary entries and a ``results`` table."""
    import wandb

    run = logger.experiment
    run.summary.update(wandb_summary(results))
    rows = list(model_rows(results, "test"))
    columns = ["model", "class", "dim", "params", *METRIC_COLUMNS]
    run.log({"results": wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in rows])})
