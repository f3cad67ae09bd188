"""Experiment configuration: read the YAML file, expand the grid into cells, cells into jobs.

A *cell* is one (dataset, model, teacher dim, student dim, method) entry of the results table.
A *job* is one training (a pretraining, distillation stage 1 or stage 2). Cells share jobs: every
cell of a model and teacher dimension uses the same teacher job, and DS and -S2 share the stage-1
job. A job is identified by the hash of everything that determines its result (flags, dataset,
seed and the hashes of the jobs it starts from), so a finished job is recognised on re-run and a
changed setting gives a new job instead of reusing a stale one.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from neuralkg_distil.errors import ConfigError

PHASES = ("pretrain", "stage1", "stage2")
GRID_KEYS = ("dataset", "model", "teacher_dim", "student_dim", "method")
# Flags the runner sets itself; a config that sets them would silently break the job graph.
_RESERVED = {"data_path", "model_name", "emb_dim", "teacher_dim", "teacher_ckpt", "student_ckpt", "stage", "stage2",
             "student_init", "run_dir", "output_dir", "seed", "litmodel_name", "overwrite", "resume"}


def is_teacher_role(role: str) -> bool:
    """``teacher``, ``teacher2``, ``teacher3``, ...: the roles a job's teachers depend under."""
    return role == "teacher" or (role.startswith("teacher") and role[len("teacher"):].isdigit())


@dataclass(frozen=True)
class Cell:
    """One entry of the results table."""

    dataset: str
    model: str
    teacher_dim: int
    student_dim: int
    method: str

    @property
    def key(self) -> Tuple[str, str, int, int, str]:
        return (self.dataset, self.model, self.teacher_dim, self.student_dim, self.method)


@dataclass
class Job:
    """One training; ``deps`` are the jobs whose checkpoints it starts from."""

    kind: str  # "pretrain", "stage1" or "stage2"
    dataset: str
    model: str
    dim: int
    flags: Dict[str, Any]
    seed: int
    teacher_dim: Optional[int] = None
    student_init: str = "stage1"
    deps: Dict[str, "Job"] = field(default_factory=dict)  # role ("teacher", "student") -> job

    @property
    def job_id(self) -> str:
        payload = {
            "kind": self.kind, "dataset": self.dataset, "model": self.model, "dim": self.dim,
            "teacher_dim": self.teacher_dim, "student_init": self.student_init, "seed": self.seed,
            "flags": self.flags, "deps": {role: job.job_id for role, job in sorted(self.deps.items())},
        }
        digest = hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"{self.kind}-{self.dataset}-{self.model}-{self.dim}-{digest}"

    @property
    def stage_dir_name(self) -> str:
        return "pretrain" if self.kind == "pretrain" else self.kind


@dataclass
class Experiment:
    """The parsed configuration file."""

    name: str
    output_dir: Path
    seed: int
    datasets: Dict[str, Path]
    cells: List[Cell]
    common: Dict[str, Any]
    phases: Dict[str, Dict[str, Any]]
    models: Dict[str, Dict[str, Any]]
    jobs_in_parallel: int = 1
    source: Optional[Path] = None
    preset: Optional[str] = None  # "auto" or a variant name: each cell's <dataset>/<model>[/<variant>] recipe
    # Rows of an earlier results.csv (``--keep_rows``), by cell key: a cell whose row is ``done``
    # with the cell's current job id counts as finished even when its job folder is gone.
    kept_rows: Dict[Tuple[str, str, int, int, str], Dict[str, Any]] = field(default_factory=dict)
    # The file's ``arms:`` section: options of one grid method by its name (``MulDE: {teachers: [...]}``).
    arm_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def preset_flags(self, kind: str, dataset: str, model: str) -> Dict[str, Any]:
        """The recipe's values for one job (the runner sets the reserved flags itself)."""
        if not self.preset:
            return {}
        from neuralkg_distil.presets import preset_values

        variant = None if self.preset == "auto" else self.preset
        values = preset_values(dataset, model, kind, variant)
        return {k: v for k, v in values.items() if k not in _RESERVED}

    def flags_for(self, kind: str, model: str, role: str, dataset: str = "") -> Dict[str, Any]:
        """Merged flags of one job: preset < common < phase < model < model's phase < model's teacher."""
        spec = self.models.get(model, {})
        merged: Dict[str, Any] = {}
        layers = (self.preset_flags(kind, dataset, model), self.common, self.phases.get(kind, {}),
                  spec.get("flags", {}), spec.get(kind, {}))
        for layer in layers:
            merged.update(layer)
        if role == "teacher":
            merged.update(spec.get("teacher", {}))
        return merged

    def jobs_for(self, cell: Cell) -> Dict[str, Job]:
        """The jobs a cell needs; the one whose ``model`` result fills the cell is under "result"."""
        return arms()[cell.method](CellPlan(self, cell))

    def teacher_jobs(self) -> Dict[str, Job]:
        """The grid's teacher pretrainings, by job id."""
        teachers: Dict[str, Job] = {}
        for cell in self.cells:
            jobs = self.jobs_for(cell)
            found = [jobs["result"]] if cell.method == "teacher" else [j for r, j in jobs.items() if is_teacher_role(r)]
            teachers.update((job.job_id, job) for job in found)
        return teachers

    def student_time_budgets(self) -> List[Job]:
        """Student jobs (no-DS, stage 1, stage 2) whose flags set a wall-clock ``max_time``."""
        teachers = self.teacher_jobs()
        return [j for j in self.all_jobs() if j.job_id not in teachers and j.flags.get("max_time") is not None]

    def all_jobs(self, cells: Optional[List[Cell]] = None) -> List[Job]:
        """Every job of the grid (or of ``cells``), each once, dependencies before the jobs that need them."""
        ordered: Dict[str, Job] = {}

        def visit(job: Job) -> None:
            for dep in job.deps.values():
                visit(dep)
            ordered.setdefault(job.job_id, job)

        for cell in self.cells if cells is None else cells:
            for job in self.jobs_for(cell).values():
                visit(job)
        return list(ordered.values())




class CellPlan:
    """The jobs a grid arm can ask for, for one cell (a method's arms build their jobs from these)."""

    def __init__(self, exp: "Experiment", cell: Cell) -> None:
        self.exp, self.cell = exp, cell
        self.teacher_dim, self.student_dim = cell.teacher_dim, cell.student_dim
        self.teacher = self.job("pretrain", cell.teacher_dim, "teacher")

    def option(self, name: str, default: Any = None) -> Any:
        """The file's ``arms.<this cell's method>.<name>``, or ``default``."""
        return self.exp.arm_options.get(self.cell.method, {}).get(name, default)

    def teacher_of(self, model: str) -> Job:
        """The pretraining of ``model`` at the teacher dimension: the job of that model's ``teacher`` cell."""
        cell = self.cell
        flags = self.exp.flags_for("pretrain", model, "teacher", cell.dataset)
        return Job("pretrain", cell.dataset, model, cell.teacher_dim, flags, self.exp.seed)

    def distil(self, teachers: Mapping[str, Job], forced: Mapping[str, Any]) -> Job:
        """A stage-1 job of the student from ``teachers`` (by role: ``teacher``, ``teacher2``, ...); its
        flags are the file's stage-1 flags, then ``arms.<method>.flags``, then the arm's ``forced`` ones."""
        cell = self.cell
        flags = {**self.exp.flags_for("stage1", cell.model, "student", cell.dataset), **self.option("flags", {}), **forced}
        _check_flags(flags, f"{self.exp.source}: arms.{cell.method}")
        return Job("stage1", cell.dataset, cell.model, self.student_dim, flags, self.exp.seed,
                   teacher_dim=self.teacher_dim, deps=dict(teachers))

    def job(self, kind: str, dim: int, role: str, phase: Optional[str] = None, **extra: Any) -> Job:
        """A job of ``kind`` whose flags are those of ``phase`` (default: the kind's own)."""
        cell = self.cell
        flags = self.exp.flags_for(phase or kind, cell.model, role, cell.dataset)
        return Job(kind, cell.dataset, cell.model, dim, flags, self.exp.seed, **extra)

    def student(self) -> Job:
        """The student trained directly (no-DS)."""
        return self.job("pretrain", self.student_dim, "student")

    def stage1(self) -> Job:
        return self.job("stage1", self.student_dim, "student", teacher_dim=self.teacher_dim, deps={"teacher": self.teacher})

    def stage2(self, stage1: Job) -> Job:
        return self.job("stage2", self.student_dim, "student", teacher_dim=self.teacher_dim,
                        deps={"teacher": self.teacher, "student": stage1})

    def stage2_from_scratch(self) -> Job:
        """Stage 2 from a new student (-S1): a whole training, so stage 1's flags."""
        return self.job("stage2", self.student_dim, "student", phase="stage1", teacher_dim=self.teacher_dim,
                        student_init="random", deps={"teacher": self.teacher})

    def link(self, dim: int, teacher: Job, defaults: Mapping[str, Any]) -> Job:
        """A stage-1 job at ``dim`` distilled from ``teacher``'s result; ``defaults`` give way to the file's
        stage-1 flags, and those to ``arms.<method>.flags`` (e.g. IterDE's schedule apart from -S2's)."""
        cell = self.cell
        flags = {**defaults, **self.exp.flags_for("stage1", cell.model, "student", cell.dataset), **self.option("flags", {})}
        _check_flags(flags, f"{self.exp.source}: arms.{cell.method}")
        return Job("stage1", cell.dataset, cell.model, dim, flags, self.exp.seed, teacher_dim=teacher.dim,
                   deps={"teacher": teacher})


BASELINE_ARMS = {"teacher": lambda plan: {"result": plan.teacher}, "no-DS": lambda plan: {"result": plan.student()}}


def arms() -> Dict[str, Any]:
    """Every grid method: the baselines, then each registered distillation method's arms."""
    from neuralkg_distil.methods.registry import grid_arms

    return {**BASELINE_ARMS, **grid_arms()}


def methods() -> Tuple[str, ...]:
    """The names a grid's ``method`` may take."""
    return tuple(arms())


def _as_list(value: Any) -> List[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand_grid(entries: List[Mapping[str, Any]], where: str = "grid") -> List[Cell]:
    """Cells of every grid entry (the product of its lists), in order, without repeats.

    A ``teacher`` cell does not depend on the student dimension, so it is listed once per
    (dataset, model, teacher dim), with ``student_dim`` equal to the teacher's.
    """
    cells: Dict[Tuple[Any, ...], Cell] = {}
    for i, entry in enumerate(entries):
        unknown = set(entry) - set(GRID_KEYS)
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(GRID_KEYS)}")
        missing = [k for k in GRID_KEYS if k not in entry]
        if missing:
            raise ConfigError(f"{where}[{i}]: missing key(s) {', '.join(missing)}")
        for dataset, model, tdim, sdim, method in itertools.product(*(_as_list(entry[k]) for k in GRID_KEYS)):
            if method not in methods():
                raise ConfigError(f"{where}[{i}]: unknown method {method!r}; valid: {', '.join(methods())}")
            for name, dim in (("teacher_dim", tdim), ("student_dim", sdim)):
                if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
                    raise ConfigError(f"{where}[{i}]: {name} must be a positive integer, got {dim!r}")
            if method == "teacher":
                sdim = tdim
            cell = Cell(str(dataset), str(model), int(tdim), int(sdim), str(method))
            cells.setdefault(cell.key, cell)
    return list(cells.values())


def select_cells(cells: List[Cell], condition: str) -> List[Cell]:
    """The cells matching ``KEY=V1,V2`` (e.g. ``model=ComplEx,RotatE``)."""
    key, _, values = condition.partition("=")
    if key not in GRID_KEYS or not values:
        raise ConfigError(f"--only {condition!r}: expected KEY=V1,V2 with KEY one of {', '.join(GRID_KEYS)}")
    wanted = set(values.split(","))
    return [c for c in cells if str(getattr(c, key)) in wanted]


def _mapping(raw: Mapping[str, Any], key: str, path: Path) -> Dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: '{key}' must be a mapping, got {type(value).__name__}")
    return dict(value)


def _check_flags(flags: Mapping[str, Any], where: str) -> None:
    bad = sorted(set(flags) & _RESERVED)
    if bad:
        raise ConfigError(f"{where}: {', '.join(bad)} is set by the runner from the grid; remove it")


def _read_yaml(path: Path) -> Mapping[str, Any]:
    from neuralkg_distil.yaml_files import read_yaml_file

    if not path.is_file():
        raise ConfigError(f"experiment file not found: {path}")
    raw = read_yaml_file(path, "experiment file")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def _datasets(raw: Mapping[str, Any], path: Path, data_root: Optional[str]) -> Dict[str, Path]:
    datasets_raw = _mapping(raw, "datasets", path)
    if not datasets_raw:
        raise ConfigError(f"{path}: 'datasets' is empty; name each dataset folder, e.g. WN18RR: ../datasets/WN18RR")
    datasets = {str(name): (path.parent / str(folder)).resolve() for name, folder in datasets_raw.items()}
    if data_root:
        datasets = {name: Path(data_root).resolve() / folder.name for name, folder in datasets.items()}
    return datasets


def _cells(raw: Mapping[str, Any], path: Path, datasets: Mapping[str, Path]) -> List[Cell]:
    grid = raw.get("grid")
    if not isinstance(grid, list) or not grid:
        raise ConfigError(f"{path}: 'grid' must be a non-empty list of entries with keys {', '.join(GRID_KEYS)}")
    cells = expand_grid(grid, f"{path}: grid")
    for cell in cells:
        if cell.dataset not in datasets:
            raise ConfigError(f"{path}: grid uses dataset {cell.dataset!r}, not listed under 'datasets'")
    return cells


def _flag_layers(raw: Mapping[str, Any], path: Path) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """The file's ``common``, ``phases`` and ``models`` flags, checked."""
    common = _mapping(raw, "common", path)
    _check_flags(common, f"{path}: common")
    phases = _mapping(raw, "phases", path)
    for name, flags in phases.items():
        if name not in PHASES:
            raise ConfigError(f"{path}: phases: unknown phase {name!r}; valid: {', '.join(PHASES)}")
        _check_flags(flags or {}, f"{path}: phases.{name}")
    models = _mapping(raw, "models", path)
    for name, spec in models.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{path}: models.{name} must be a mapping")
        for key, flags in spec.items():
            if key not in ("flags", "teacher") + PHASES:
                raise ConfigError(f"{path}: models.{name}: unknown key {key!r}; valid: flags, teacher, {', '.join(PHASES)}")
            _check_flags(flags or {}, f"{path}: models.{name}.{key}")
    return common, phases, models


def _arm_options(raw: Mapping[str, Any], path: Path) -> Dict[str, Dict[str, Any]]:
    """The file's ``arms:`` section, checked: known methods, mappings, no reserved flags."""
    options = _mapping(raw, "arms", path)
    for name, spec in options.items():
        if name not in methods():
            raise ConfigError(f"{path}: arms: unknown method {name!r}; valid: {', '.join(methods())}")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{path}: arms.{name} must be a mapping")
        flags = spec.get("flags") or {}
        if not isinstance(flags, Mapping):
            raise ConfigError(f"{path}: arms.{name}.flags must be a mapping")
        _check_flags(flags, f"{path}: arms.{name}.flags")
    return {str(k): dict(v) for k, v in options.items()}


def _check_preset(preset: Any, path: Path) -> None:
    if preset is None:
        return
    from neuralkg_distil.presets import recipes

    variants = sorted(recipes().get("variants", {}))
    if preset != "auto" and preset not in variants:
        raise ConfigError(f"{path}: 'preset' must be auto or a variant ({', '.join(variants)}), got {preset!r}")


def _warn_time_budgets(exp: Experiment, path: Path) -> None:
    timed = exp.student_time_budgets()
    if timed:
        from neuralkg_distil.errors import warn

        kinds = ", ".join(sorted({"no-DS" if j.kind == "pretrain" else j.kind for j in timed}))
        warn(f"{path}: max_time is set for {len(timed)} student job(s) ({kinds}); the protocol is early stopping "
             "on valid MRR with a max_epochs cap, and wall-clock budgets are not comparable: remove max_time")


def load_experiment(path: str | Path, output_dir: Optional[str] = None, data_root: Optional[str] = None) -> Experiment:
    """Parse and check an experiment file; relative paths are relative to the file's folder.

    ``data_root`` replaces the folder each dataset lies in (its name is kept), for machines
    where the data sits elsewhere.
    """
    path = Path(path)
    raw = _read_yaml(path)
    datasets = _datasets(raw, path, data_root)
    cells = _cells(raw, path, datasets)
    common, phases, models = _flag_layers(raw, path)
    preset = raw.get("preset")
    _check_preset(preset, path)
    out = Path(output_dir) if output_dir else path.parent / str(raw.get("output_dir", Path("output") / "experiments" / path.stem))
    seed = raw.get("seed", 321)
    jobs = raw.get("jobs", 1)
    if not isinstance(seed, int) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"{path}: 'seed' must be an integer and 'jobs' a positive integer")
    exp = Experiment(
        name=str(raw.get("name", path.stem)), output_dir=out, seed=seed, datasets=datasets, cells=cells,
        common=common, phases={k: dict(v or {}) for k, v in phases.items()},
        models={k: {kk: dict(vv or {}) for kk, vv in v.items()} for k, v in models.items()},
        jobs_in_parallel=jobs, source=path, preset=preset, arm_options=_arm_options(raw, path),
    )
    _warn_time_budgets(exp, path)
    return exp
