"""Rows, tables and plots of an experiment: results.csv / .json, results.md and plots/*.png."""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence

from neuralkg_distil.checkpoints import atomic_write_json, atomic_write_text
from neuralkg_distil.experiment.config import METHODS, Cell, Experiment
from neuralkg_distil.experiment.jobs import epochs_reached, is_done, job_dir, meta_of, results_of

METRICS = ("mrr", "hits@10", "hits@3", "hits@1", "mr")
COLUMNS = (
    "dataset", "model", "teacher_dim", "student_dim", "method", "status", "mrr", "hits@10", "hits@3", "hits@1", "mr",
    "valid_mrr", "params", "epochs", "wall_time_s", "total_wall_time_s", "teacher_after_mrr", "hardware", "seed",
    "git_commit", "job_id",
)
# What the paper tables call each method.
LABELS = {"teacher": "teacher", "no-DS": "no-DS", "DS": "DS", "-S1": "DS -S1", "-S2": "DS -S2"}


def cell_row(exp: Experiment, cell: Cell) -> Dict[str, Any]:
    """One result row; unfinished cells say how far their job got."""
    jobs = exp.jobs_for(cell)
    job = jobs["result"]
    row: Dict[str, Any] = {k: getattr(cell, k) for k in ("dataset", "model", "teacher_dim", "student_dim", "method")}
    row["job_id"] = job.job_id
    row["seed"] = job.seed
    meta = meta_of(exp, job)
    results = results_of(exp, job)
    if results is None:
        status = meta.get("status", "not started")
        reached = epochs_reached(exp, job)
        row["status"] = status if reached is None else f"{status} (epoch {reached})"
        row["epochs"] = reached
        return row
    model = results["models"]["model"]
    row["status"] = "done"
    row.update({k: model["test"].get(k) for k in METRICS})
    row["valid_mrr"] = model["valid"].get("mrr")
    row["params"] = model.get("params")
    row["epochs"] = results.get("epochs")
    row["wall_time_s"] = results.get("wall_time_s")
    # Time to produce the cell's model, its teacher excluded (teachers are shared).
    own = [j for role, j in jobs.items() if role != "teacher"]
    times = [(results_of(exp, j) or {}).get("wall_time_s") for j in own]
    row["total_wall_time_s"] = round(sum(t for t in times if t), 2) if all(times) else None
    if "teacher" in results["models"] and job.kind == "stage2":
        row["teacher_after_mrr"] = results["models"]["teacher"]["test"].get("mrr")
    row["hardware"] = meta.get("hardware")
    row["git_commit"] = meta.get("git_commit")
    return row


def rows_of(exp: Experiment) -> List[Dict[str, Any]]:
    return [cell_row(exp, cell) for cell in exp.cells]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(rows: Sequence[Dict[str, Any]], title: str) -> str:
    """Paper layout: one table per (dataset, teacher dim); rows dim x method, columns model x metric."""
    out = [f"# {title}", "", "Filtered link prediction on the test set (ties ranked realistically).", ""]
    groups: Dict[Any, List[Dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["teacher_dim"]), []).append(row)
    shown = ("mrr", "hits@10", "hits@3", "hits@1")
    for (dataset, tdim), group in groups.items():
        models = list(dict.fromkeys(r["model"] for r in group))
        out += [f"## {dataset}, teacher dimension {tdim}", ""]
        head = ["dim", "method"] + [f"{m} {k.upper().replace('HITS@', 'H@')}" for m in models for k in shown]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        index = {(r["model"], r["student_dim"], r["method"]): r for r in group}
        dims = sorted({r["student_dim"] for r in group if r["method"] != "teacher"}, reverse=True)
        lines = [(tdim, "teacher")] + [(d, m) for d in dims for m in METHODS if m != "teacher"]
        for dim, method in lines:
            found = [index.get((m, dim, method)) for m in models]
            if not any(found):
                continue
            cells = []
            for r in found:
                done = r is not None and r.get("status") == "done"
                cells += [_fmt(r.get(k)) if done else ("n/a" if r is None else "*") for k in shown]
            out.append("| " + " | ".join([str(dim), LABELS[method]] + cells) + " |")
        out.append("")
    unfinished = [r for r in rows if r.get("status") != "done"]
    if unfinished:
        out += ["Cells marked * did not finish:", ""]
        out += [f"- {r['dataset']} {r['model']} {r['teacher_dim']}->{r['student_dim']} {r['method']}: {r['status']}"
                for r in unfinished]
        out.append("")
    return "\n".join(out)


def write_csv(rows: Sequence[Dict[str, Any]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in COLUMNS})
    atomic_write_text(buffer.getvalue(), path)


def plot(rows: Sequence[Dict[str, Any]], folder: Path) -> List[Path]:
    """MRR against student dimension for teacher, no-DS and DS (and ablations), per dataset and model."""
    try:
        import matplotlib
    except ImportError:
        warnings.warn("matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("status") == "done"]
    written: List[Path] = []
    for key in dict.fromkeys((r["dataset"], r["model"], r["teacher_dim"]) for r in done):
        dataset, model, tdim = key
        group = [r for r in done if (r["dataset"], r["model"], r["teacher_dim"]) == key]
        students = [r for r in group if r["method"] != "teacher"]
        if not students:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        styles = {"no-DS": ("s-", "tab:gray"), "DS": ("o-", "tab:red"), "-S1": ("^--", "tab:blue"), "-S2": ("v--", "tab:green")}
        for method, (style, color) in styles.items():
            points = sorted((r["student_dim"], r["mrr"]) for r in students if r["method"] == method)
            if points:
                ax.plot(*zip(*points), style, color=color, label=LABELS[method])
        teacher = [r for r in group if r["method"] == "teacher"]
        if teacher:
            ax.axhline(teacher[0]["mrr"], color="black", linestyle=":", label=f"teacher ({tdim})")
        dims = sorted({r["student_dim"] for r in students})
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("student dimension")
        ax.set_ylabel("test MRR")
        ax.set_title(f"{model} on {dataset}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"{dataset}_{model}_T{tdim}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def write_reports(exp: Experiment, plots: bool = True) -> Dict[str, Path]:
    """Write every output of the experiment from the jobs' results; returns the paths."""
    rows = rows_of(exp)
    out = exp.output_dir
    paths = {"csv": out / "results.csv", "json": out / "results.json", "markdown": out / "results.md"}
    write_csv(rows, paths["csv"])
    atomic_write_json({"experiment": exp.name, "rows": rows}, paths["json"])
    atomic_write_text(markdown(rows, f"{exp.name}: results"), paths["markdown"])
    if plots:
        for i, path in enumerate(plot(rows, out / "plots")):
            paths[f"plot{i}"] = path
    return paths


def summary_line(exp: Experiment) -> str:
    rows = rows_of(exp)
    done = sum(r["status"] == "done" for r in rows)
    return f"{done}/{len(rows)} cells done"


def unfinished_jobs(exp: Experiment) -> List[str]:
    return [str(job_dir(exp, j)) for j in exp.all_jobs() if not is_done(exp, j)]


