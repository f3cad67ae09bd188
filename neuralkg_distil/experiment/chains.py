"""Chains of links (cells whose jobs include ``link1``, ``link2``, ...: IterDE's): every link's test and
valid MRR, epochs and wall time, as ``chains.csv``, a section of ``results.md`` and a plot of MRR along
the chain against the same cell group's no-DS and one-step students."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from neuralkg_distil.checkpoint.files import atomic_write_csv
from neuralkg_distil.experiment.config import Cell, Experiment, Job
from neuralkg_distil.experiment.figures import finish_plot, label_of
from neuralkg_distil.experiment.jobs import results_of

LINK = re.compile(r"^link(\d+)$")
CHAIN_COLUMNS = ("dataset", "model", "teacher_dim", "student_dim", "method", "link", "dim", "status", "mrr",
                 "hits@10", "hits@3", "hits@1", "valid_mrr", "epochs", "wall_time_s", "job_id")
# the one-cell students a chain is compared with, at its student dimension
BASELINES = ("no-DS", "-S2", "DS")


def chain_of(exp: Experiment, cell: Cell) -> List[Job]:
    """The cell's teacher, then its links in order; empty for a cell without links."""
    jobs = exp.jobs_for(cell)
    links = sorted((int(m.group(1)), job) for role, job in jobs.items() if (m := LINK.match(role)))
    return [jobs["teacher"]] + [job for _, job in links] if links else []


def _job_row(exp: Experiment, cell: Cell, position: int, job: Job) -> Dict[str, Any]:
    row: Dict[str, Any] = {k: getattr(cell, k) for k in ("dataset", "model", "teacher_dim", "student_dim", "method")}
    row.update(link=position, dim=job.dim, job_id=job.job_id)
    results = results_of(exp, job)
    if results is None:
        row["status"] = "not finished"
        return row
    model = results["models"]["model"]
    row.update(status="done", valid_mrr=model["valid"].get("mrr"), epochs=results.get("epochs"),
               wall_time_s=results.get("wall_time_s"))
    row.update({k: model["test"].get(k) for k in ("mrr", "hits@10", "hits@3", "hits@1")})
    return row


def chain_rows(exp: Experiment) -> List[Dict[str, Any]]:
    """One row per job of every chain: link 0 is the teacher, then each link."""
    rows: List[Dict[str, Any]] = []
    for cell in exp.cells:
        rows += [_job_row(exp, cell, i, job) for i, job in enumerate(chain_of(exp, cell))]
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def chain_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """A table per chain: link, dimension, test MRR / H@10, valid MRR, epochs, wall time, and the sum."""
    out: List[str] = []
    for key in dict.fromkeys((r["dataset"], r["model"], r["teacher_dim"], r["student_dim"], r["method"]) for r in rows):
        dataset, model, tdim, sdim, method = key
        chain = [r for r in rows if (r["dataset"], r["model"], r["teacher_dim"], r["student_dim"], r["method"]) == key]
        out += [f"## {method} chain: {dataset} {model} {tdim} -> {sdim}", "",
                "| link | dim | test MRR | H@10 | valid MRR | epochs | wall (s) |", "|---|---|---|---|---|---|---|"]
        for r in chain:
            name = "teacher" if r["link"] == 0 else str(r["link"])
            if r["status"] != "done":
                out.append(f"| {name} | {r['dim']} | {r['status']} | | | | |")
                continue
            out.append(f"| {name} | {r['dim']} | {_fmt(r['mrr'])} | {_fmt(r['hits@10'])} | {_fmt(r['valid_mrr'])} | "
                       f"{r['epochs']} | {_fmt(r['wall_time_s'])} |")
        links = [r for r in chain if r["link"] > 0]
        if links and all(r["status"] == "done" for r in links):
            out.append(f"\nThe links' training time: {sum(r['wall_time_s'] or 0 for r in links):.0f} s "
                       f"(the teacher's {_fmt(chain[0].get('wall_time_s'))} s apart).")
        out.append("")
    return "\n".join(out)


def write_chain_csv(rows: Sequence[Dict[str, Any]], path: Path) -> None:
    """The rows as CSV with the CHAIN_COLUMNS columns, written atomically."""
    atomic_write_csv(rows, CHAIN_COLUMNS, path)


def _baselines(exp: Experiment, cell: Cell) -> List[Tuple[str, float]]:
    """Test MRR of the finished no-DS / -S2 / DS cells of the chain's group."""
    found = []
    for method in BASELINES:
        other = Cell(cell.dataset, cell.model, cell.teacher_dim, cell.student_dim, method)
        if other.key in {c.key for c in exp.cells}:
            results = results_of(exp, exp.jobs_for(other)["result"])
            if results is not None:
                found.append((method, float(results["models"]["model"]["test"]["mrr"])))
    return found


def chain_plots(exp: Experiment, folder: Path) -> List[Path]:
    """``<dataset>_<model>_T<tdim>_S<sdim>_chain.png``: test MRR against dimension along each chain, with
    the group's no-DS and one-step students at the student dimension."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    written: List[Path] = []
    marks = {"no-DS": ("s", "tab:gray"), "-S2": ("v", "tab:green"), "DS": ("o", "tab:red")}
    for cell in exp.cells:
        chain = [(job.dim, results_of(exp, job)) for job in chain_of(exp, cell)]
        points = [(dim, float(r["models"]["model"]["test"]["mrr"])) for dim, r in chain if r is not None]
        if len(points) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(*zip(*points), "D-", color="tab:purple", label=f"{label_of(cell.method)} chain")
        for method, mrr in _baselines(exp, cell):
            marker, color = marks[method]
            ax.plot([cell.student_dim], [mrr], marker, color=color, markersize=8, label=label_of(method))
        dims = [d for d, _ in points]
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.invert_xaxis()
        ax.set_xlabel("dimension along the chain")
        ax.set_ylabel("test MRR")
        ax.set_title(f"{cell.model} on {cell.dataset}: {cell.teacher_dim} -> {cell.student_dim}", fontsize=9)
        written.append(finish_plot(plt, fig, ax, folder / f"{cell.dataset}_{cell.model}_T{cell.teacher_dim}_S{cell.student_dim}_chain.png"))
    return written
