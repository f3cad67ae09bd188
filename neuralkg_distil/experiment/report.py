"""Rows, tables and plots of an experiment: results.csv / .json, results.md and plots/*.png."""
from __future__ import annotations

import argparse
import csv
import functools
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from neuralkg_distil.checkpoint.files import atomic_write_csv, atomic_write_json, atomic_write_text
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.experiment.config import GRID_KEYS, Cell, Experiment, Job, is_teacher_role, methods
from neuralkg_distil.experiment.figures import finish_plot, label_of
from neuralkg_distil.experiment.jobs import curve_of, epochs_reached, is_done, job_dir, meta_of, results_of

METRICS = ("mrr", "hits@10", "hits@3", "hits@1", "mr")
COLUMNS = (
    "dataset", "model", "teacher_dim", "student_dim", "method", "status", "mrr", "hits@10", "hits@3", "hits@1", "mr",
    "valid_mrr", "params", "epochs", "wall_time_s", "total_wall_time_s", "teacher_after_mrr", "hardware", "seed",
    "git_commit", "job_id",
    # The protocol: the settings the cell's result job used (alpha / beta blank where the job does
    # not use them), whether it stopped early (true) or ran into its max_epochs cap (false), and
    # every job id of the cell (role=id;...), which --keep_rows checks before it trusts a row.
    "lr", "alpha", "beta", "converged", "max_epochs", "job_ids",
    # The student's validation curve ("epoch:mrr epoch:mrr ..."), so a kept row still draws its curve on a
    # machine where its job folders are gone.
    "valid_curve",
)
# Lightning's epoch cap when --max_epochs is not given (and --max_steps is not either).
DEFAULT_MAX_EPOCHS = 1000
@functools.lru_cache(maxsize=1)
def _defaults() -> Dict[str, Any]:
    """The training command's defaults (NeuralKG's and ours), for flags a job does not set."""
    from neuralkg_distil.cli.parser import build_parser

    return {a.dest: a.default for a in build_parser()._actions}  # noqa: SLF001


def flag_of(job: Job, name: str) -> Any:
    """The value of ``--name`` a job ran with."""
    value = job.flags.get(name, _defaults().get(name))
    if name == "max_epochs" and value is None:
        return DEFAULT_MAX_EPOCHS
    return value


def _loss_class(name: Any) -> Any:
    """The loss class NeuralKG's name space holds under ``name`` (ours are registered on import), or None."""
    import importlib

    import neuralkg_distil  # noqa: F401 (registers our losses)

    return getattr(importlib.import_module("neuralkg.loss"), str(name), None) if name else None


def protocol_columns(job: Job, results: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """lr, alpha, beta, max_epochs and converged of a result job.

    ``lr`` is the rate the job's model trained with (``--lr`` after the ``--lr_ref_dim`` rule).
    alpha (the student's soft weight: the flag the loss names as ``soft_weight_flag``, e.g.
    ``--mulde_soft_weight``) applies to distillation jobs, beta (the teacher's) to stage 2 only, and
    neither when the weighting is learned (``adaptive`` or ``calibrated``, DualDE_Loss's default).
    """
    from neuralkg_distil.training.optim import scaled_lr

    lr_flags = argparse.Namespace(**{k: flag_of(job, k) for k in ("lr", "lr_ref_dim", "lr_dim_power")})
    values: Dict[str, Any] = {"lr": scaled_lr(lr_flags, job.dim), "max_epochs": flag_of(job, "max_epochs")}
    loss = _loss_class(flag_of(job, "loss_name"))
    weighting = flag_of(job, "soft_weighting") or getattr(loss, "default_weighting", "fixed")
    if job.kind != "pretrain" and weighting == "fixed":
        values["alpha"] = flag_of(job, getattr(loss, "soft_weight_flag", "alpha"))
        if job.kind == "stage2":
            values["beta"] = flag_of(job, "beta")
    if results is not None:
        if results.get("stopped_early") is not None:
            values["converged"] = bool(results["stopped_early"])
        elif results.get("epochs") is not None:
            values["converged"] = int(results["epochs"]) < int(values["max_epochs"])
    return values


def job_ids_of(jobs: Dict[str, Job]) -> str:
    return ";".join(f"{role}={job.job_id}" for role, job in sorted(jobs.items()))


def _value(text: str) -> Any:
    """A CSV cell back as None / bool / int / float / str."""
    if text is None or text == "":
        return None
    if text in ("True", "False", "true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_kept_rows(path: str | Path) -> Dict[Tuple[Any, ...], Dict[str, Any]]:
    """The ``done`` rows of an earlier results.csv, by cell key and by the job ids that made them (``--keep_rows``)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            raw = list(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError(f"--keep_rows {path}: cannot read it ({exc.strerror or exc})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"--keep_rows {path}: not a results.csv ({exc})") from None
    if raw and not {"job_id", "status", *GRID_KEYS} <= set(raw[0]):
        raise ConfigError(f"--keep_rows {path}: not a results.csv (needs the columns {', '.join(GRID_KEYS)}, status, job_id)")
    kept: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
    for line in raw:
        if line.get("status") != "done":
            continue
        row = {k: _value(v) for k, v in line.items() if k in COLUMNS}
        row.update({k: line[k] for k in ("dataset", "model", "method", "status", "job_id", "job_ids") if k in line})
        row["teacher_dim"], row["student_dim"] = int(line["teacher_dim"]), int(line["student_dim"])
        kept[tuple(row[k] for k in GRID_KEYS)] = row
        if row.get("job_ids"):  # the same jobs may make a cell of another grid (a teacher row is a no-DS row there)
            kept.setdefault(("job_ids", row["job_ids"]), row)
    return kept


def kept_row(exp: Experiment, cell: Cell) -> Optional[Dict[str, Any]]:
    """The cell's kept row, if it was made by exactly the jobs the cell needs now: the row of the same
    cell, else any row made by the same jobs (e.g. a 64-dim no-DS cell here, a 64-dim teacher cell there)."""
    jobs = exp.jobs_for(cell)
    row = exp.kept_rows.get(cell.key) or exp.kept_rows.get(("job_ids", job_ids_of(jobs)))
    if row is None or row.get("status") != "done":
        return None
    if row.get("job_id") != jobs["result"].job_id:
        return None
    if row.get("job_ids") and row["job_ids"] != job_ids_of(jobs):
        return None
    return row


def cell_is_finished(exp: Experiment, cell: Cell) -> bool:
    """Its result job finished here, or its row is kept from an earlier run."""
    return is_done(exp, exp.jobs_for(cell)["result"]) or kept_row(exp, cell) is not None


def cell_row(exp: Experiment, cell: Cell) -> Dict[str, Any]:
    """One result row; unfinished cells say how far their job got; kept rows are used as they are."""
    jobs = exp.jobs_for(cell)
    job = jobs["result"]
    row: Dict[str, Any] = {k: getattr(cell, k) for k in ("dataset", "model", "teacher_dim", "student_dim", "method")}
    row["job_id"] = job.job_id
    row["job_ids"] = job_ids_of(jobs)
    row["seed"] = job.seed
    meta = meta_of(exp, job)
    results = results_of(exp, job)
    kept = kept_row(exp, cell) if results is None else None
    if kept is not None:  # the same job ids, so the same flags: columns the old file lacks are filled in
        return {**row, **protocol_columns(job, None), **{k: v for k, v in kept.items() if v is not None and k not in GRID_KEYS}}
    row.update(protocol_columns(job, results))
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
    own = list({j.job_id: j for role, j in jobs.items() if not is_teacher_role(role)}.values())  # "result" is also a named role
    times = [(results_of(exp, j) or {}).get("wall_time_s") for j in own]
    row["total_wall_time_s"] = round(sum(t for t in times if t), 2) if all(times) else None
    if "teacher" in results["models"] and job.kind == "stage2":
        row["teacher_after_mrr"] = results["models"]["teacher"]["test"].get("mrr")
    row["hardware"] = meta.get("hardware")
    row["git_commit"] = meta.get("git_commit")
    if cell.method != "teacher":
        row["valid_curve"] = format_curve(cell_curve(exp, cell))
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
        lines = [(tdim, "teacher")] + [(d, m) for d in dims for m in methods() if m != "teacher"]
        for dim, method in lines:
            found = [index.get((m, dim, method)) for m in models]
            if not any(found):
                continue
            cells = []
            for r in found:
                done = r is not None and r.get("status") == "done"
                cells += [_fmt(r.get(k)) if done else ("n/a" if r is None else "*") for k in shown]
            out.append("| " + " | ".join([str(dim), label_of(method)] + cells) + " |")
        out.append("")
    unfinished = [r for r in rows if r.get("status") != "done"]
    if unfinished:
        out += ["Cells marked * did not finish:", ""]
        out += [f"- {r['dataset']} {r['model']} {r['teacher_dim']}->{r['student_dim']} {r['method']}: {r['status']}"
                for r in unfinished]
        out.append("")
    return "\n".join(out)


def write_csv(rows: Sequence[Dict[str, Any]], path: Path) -> None:
    """The rows as CSV with the COLUMNS columns, written atomically."""
    atomic_write_csv(rows, COLUMNS, path)


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
        styles = {"no-DS": ("s-", "tab:gray"), "DS": ("o-", "tab:red"), "-S1": ("^--", "tab:blue"), "-S2": ("v--", "tab:green"),
                  "IterDE": ("D-", "tab:purple"), "MulDE": ("P-", "tab:orange")}
        for method, (style, color) in styles.items():
            points = sorted((r["student_dim"], r["mrr"]) for r in students if r["method"] == method)
            if points:
                ax.plot(*zip(*points), style, color=color, label=label_of(method))
        teacher = [r for r in group if r["method"] == "teacher"]
        if teacher:
            ax.axhline(teacher[0]["mrr"], color="black", linestyle=":", label=f"teacher ({tdim})")
        dims = sorted({r["student_dim"] for r in students})
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("student dimension")
        ax.set_ylabel("test MRR")
        ax.set_title(f"{model} on {dataset}")
        written.append(finish_plot(plt, fig, ax, folder / f"{dataset}_{model}_T{tdim}.png"))
    return written


Curve = List[Tuple[int, float]]


def format_curve(curve: Curve) -> Optional[str]:
    """``"5:0.1653 10:0.3231"`` (epoch: validation MRR), or None for no curve."""
    return " ".join(f"{e}:{m:.6g}" for e, m in curve) or None


def parse_curve(text: Any) -> Curve:
    """The curve :func:`format_curve` wrote (an empty list for a blank or unreadable cell)."""
    try:
        return [(int(e), float(m)) for e, m in (item.split(":") for item in str(text or "").split())]
    except ValueError:
        return []


def cell_curve(exp: Experiment, cell: Cell) -> Curve:
    """Valid MRR by epoch (1-based: epochs completed) of a finished student cell: its result job's curve,
    for DS stage 1's then stage 2's shifted by stage 1's epochs; from the kept row where the folders are gone."""
    jobs = exp.jobs_for(cell)
    if not is_done(exp, jobs["result"]):
        kept = kept_row(exp, cell)
        return parse_curve(kept.get("valid_curve")) if kept else []
    if cell.method == "DS":
        first = [(e + 1, m) for e, m in curve_of(exp, jobs["stage1"])]
        stage1 = results_of(exp, jobs["stage1"]) or {}
        offset = stage1.get("epochs") or (first[-1][0] if first else 0)
        return first + [(offset + e + 1, m) for e, m in curve_of(exp, jobs["result"])]
    return [(e + 1, m) for e, m in curve_of(exp, jobs["result"])]


def method_curves(exp: Experiment, dataset: str, model: str, tdim: int, sdim: int) -> Dict[str, Curve]:
    """:func:`cell_curve` of each finished student method of one cell group (no-DS, -S2, DS, -S1, ...)."""
    curves: Dict[str, Curve] = {}
    for cell in exp.cells:
        if (cell.dataset, cell.model, cell.teacher_dim, cell.student_dim) != (dataset, model, tdim, sdim):
            continue
        if cell.method == "teacher" or not cell_is_finished(exp, cell):
            continue
        curve = cell_curve(exp, cell)
        if curve:
            curves[cell.method] = curve
    return curves


def curve_plots(exp: Experiment, folder: Path) -> List[Path]:
    """``<dataset>_<model>_T<tdim>_S<sdim>_curves.png``: valid MRR against epoch, no-DS vs DS vs -S2
    (and -S1), per (dataset, model, teacher dim, student dim); the DS line marks where stage 2 starts."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: List[Path] = []
    groups = dict.fromkeys((c.dataset, c.model, c.teacher_dim, c.student_dim) for c in exp.cells if c.method != "teacher")
    styles = {"no-DS": ("-", "tab:gray"), "DS": ("-", "tab:red"), "-S2": ("--", "tab:green"), "-S1": ("--", "tab:blue"),
              "IterDE": ("-", "tab:purple"), "MulDE": ("-", "tab:orange")}
    for dataset, model, tdim, sdim in groups:
        curves = method_curves(exp, dataset, model, tdim, sdim)
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for method, (style, color) in styles.items():
            if method in curves:
                epochs, mrr = zip(*curves[method])
                ax.plot(epochs, mrr, style, color=color, marker=".", markersize=3, label=label_of(method))
        if "DS" in curves:
            stage1 = results_of(exp, exp.jobs_for(Cell(dataset, model, tdim, sdim, "DS"))["stage1"]) or {}
            if stage1.get("epochs"):
                ax.axvline(stage1["epochs"] + 0.5, color="tab:red", linestyle=":", linewidth=0.8, label="DS: stage 2 starts")
        ax.set_xlabel("epoch")
        ax.set_ylabel("valid MRR")
        ax.set_title(f"{model} on {dataset}, teacher {tdim} -> student {sdim}", fontsize=9)
        written.append(finish_plot(plt, fig, ax, folder / f"{dataset}_{model}_T{tdim}_S{sdim}_curves.png"))
    return written


def write_reports(exp: Experiment, plots: bool = True) -> Dict[str, Path]:
    """Write every output of the experiment from the jobs' results; returns the paths."""
    rows = rows_of(exp)
    out = exp.output_dir
    paths = {"csv": out / "results.csv", "json": out / "results.json", "markdown": out / "results.md"}
    write_csv(rows, paths["csv"])
    atomic_write_json({"experiment": exp.name, "rows": rows}, paths["json"])
    from neuralkg_distil.experiment.chains import chain_markdown, chain_plots, chain_rows, write_chain_csv

    chains = chain_rows(exp)
    text = markdown(rows, f"{exp.name}: results")
    if chains:
        paths["chains"] = out / "chains.csv"
        write_chain_csv(chains, paths["chains"])
        text += "\n" + chain_markdown(chains)
    atomic_write_text(text, paths["markdown"])
    if plots:
        drawn = plot(rows, out / "plots") + curve_plots(exp, out / "plots") + chain_plots(exp, out / "plots")
        for i, path in enumerate(drawn):
            paths[f"plot{i}"] = path
    return paths


def summary_line(exp: Experiment) -> str:
    rows = rows_of(exp)
    done = sum(r["status"] == "done" for r in rows)
    return f"{done}/{len(rows)} cells done"


def unfinished_jobs(exp: Experiment) -> List[str]:
    return [str(job_dir(exp, j)) for j in exp.all_jobs() if not is_done(exp, j)]


