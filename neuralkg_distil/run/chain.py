"""``neuralkg-distil iterate``: IterDE's chain of students, each the next one's frozen teacher.

Instead of one jump from a large teacher to a small student, a chain of dimensions such as
512 -> 256 -> 128 -> 64 -> 32 distils each link from the one before it (stage 1, teacher frozen),
so no step has to bridge a large gap (Liu et al., IterDE, AAAI 2023). The first link is
pretrained, or given with ``--teacher_ckpt``. Each link is one ordinary training run through the
same entry point as every other command, in ``<run_dir>/<model>_<dim>``:

* a finished link (its ``results.json`` exists) is kept and never retrained, so a broken chain
  resumes where it broke; an interrupted link continues from its ``last.ckpt``;
* the soft weight grows over each link's epochs by default (the paper's dynamic adjustment:
  ``--soft_weight_schedule power``, over ``--soft_weight_warmup`` epochs) unless a schedule is
  given;
* ``chain.json`` and the printed table report every link's test metrics, epochs and wall time,
  with the first teacher's pretraining shown apart from the chain's own training time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.run.folder import RESULTS_FILE

CHAIN_FILE = "chain.json"


def parse_dims(text: str) -> List[int]:
    """``"512,256,128"`` -> [512, 256, 128]: at least two, positive and strictly decreasing."""
    try:
        dims = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--dims must be comma-separated integers such as 512,256,128, got {text!r}") from None
    if len(dims) < 2:
        raise ConfigError(f"--dims needs at least two dimensions (teacher, then students), got {text!r}")
    if any(d <= 0 for d in dims) or any(b >= a for a, b in zip(dims, dims[1:])):
        raise ConfigError(f"--dims must be positive and strictly decreasing, got {text!r}")
    return dims


@dataclass(frozen=True)
class Link:
    """One training of the chain: the first link's pretraining (or a given teacher), then stage-1 runs."""

    index: int
    dim: int
    run_dir: Path
    given: Optional[str] = None  # the first link's checkpoint when --teacher_ckpt was given

    @property
    def pretrain(self) -> bool:
        return self.index == 0

    @property
    def stage_dir(self) -> Path:
        return self.run_dir / ("pretrain" if self.pretrain else "stage1")

    @property
    def checkpoint(self) -> Path:
        return Path(self.given) if self.given else self.stage_dir / "best.ckpt"

    def finished(self) -> bool:
        return self.given is not None or (self.stage_dir / RESULTS_FILE).is_file()


def plan(root: Path, model: str, dims: Sequence[int], teacher_ckpt: Optional[str]) -> List[Link]:
    """The chain's links, first (the teacher) to last (the smallest student)."""
    return [Link(i, d, root / f"{model}_{d}", teacher_ckpt if i == 0 else None) for i, d in enumerate(dims)]


def link_flags(link: Link, flags: Sequence[str], teacher: Optional[Path]) -> List[str]:
    """The training flags of one link (the user's, plus this link's dimension, folder and teacher)."""
    argv = [*flags, "--emb_dim", str(link.dim), "--run_dir", str(link.run_dir)]
    if link.pretrain:
        argv = _without_distillation_loss(argv) + ["--litmodel_name", "PretrainLitModel"]
    else:
        argv += ["--litmodel_name", "KGDistillLitModel", "--teacher_ckpt", str(teacher)]
    if (link.stage_dir / "last.ckpt").is_file():
        argv.append("--resume")
    elif link.stage_dir.exists() and any(link.stage_dir.iterdir()):
        argv.append("--overwrite")  # killed before its first checkpoint: nothing to keep
    return argv


def _without_distillation_loss(argv: List[str]) -> List[str]:
    """The first link is a pretraining: a distillation ``--loss_name`` meant for the later links is
    left out there (the recipe's, or NeuralKG's default, pretraining loss applies)."""
    import importlib

    from neuralkg_distil.methods.losses import DistillationLoss

    def distillation(name: str) -> bool:
        cls = getattr(importlib.import_module("neuralkg.loss"), name, None)
        return isinstance(cls, type) and issubclass(cls, DistillationLoss)

    out: List[str] = []
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag == "--loss_name" and i + 1 < len(argv) and distillation(argv[i + 1]):
            i += 2
            continue
        if flag.startswith("--loss_name=") and distillation(flag.split("=", 1)[1]):
            i += 1
            continue
        out.append(flag)
        i += 1
    return out


def default_schedule(flags: Sequence[str]) -> List[str]:
    """IterDE's growing soft weight (:data:`neuralkg_distil.methods.iterde.DEFAULT_SCHEDULE`) unless
    the user chose a schedule."""
    from neuralkg_distil.methods.iterde import DEFAULT_SCHEDULE

    given = {f.split("=", 1)[0] for f in flags if f.startswith("--")}
    extra: List[str] = []
    if "--soft_weight_schedule" not in given:
        extra += ["--soft_weight_schedule", DEFAULT_SCHEDULE["soft_weight_schedule"]]
        if "--soft_weight_warmup" not in given:
            extra += ["--soft_weight_warmup", str(DEFAULT_SCHEDULE["soft_weight_warmup"])]
    return extra


def _read(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def run_chain(dims: Sequence[int], flags: Sequence[str], root: Path, model: str,
              teacher_ckpt: Optional[str] = None) -> Dict[str, Any]:
    """Train (or keep) every link in order; returns and writes the chain's summary."""
    from neuralkg_distil.checkpoint.files import atomic_write_json
    from neuralkg_distil.cli.parser import parse_args
    from neuralkg_distil.run.builder import train

    links = plan(root, model, dims, teacher_ckpt)
    schedule = default_schedule(flags)
    rows: List[Dict[str, Any]] = []
    for link in links:
        teacher = links[link.index - 1].checkpoint if link.index else None
        name = f"link {link.index + 1}/{len(links)}: {model} {link.dim}" + (f" from {links[link.index - 1].dim}" if teacher else "")
        if link.given is not None:
            print(f"{name}: the given teacher {link.given}", flush=True)
            rows.append({"link": link.index + 1, "dim": link.dim, "kind": "given", "checkpoint": link.given})
            continue
        if link.finished():
            print(f"{name}: finished earlier, kept ({link.stage_dir / RESULTS_FILE})", flush=True)
            results = _read(link.stage_dir / RESULTS_FILE)
        else:
            print(f"\n{name}", flush=True)
            argv = link_flags(link, [*flags, *([] if link.pretrain else schedule)], teacher)
            results = train(parse_args(argv), label=name)
        info = results["models"]["model"]
        rows.append({
            "link": link.index + 1, "dim": link.dim, "kind": "pretrain" if link.pretrain else "distil",
            "checkpoint": results.get("checkpoint"), "params": info.get("params"), "valid_mrr": info["valid"]["mrr"],
            **{k: v for k, v in info["test"].items()}, "epochs": results.get("epochs"),
            "wall_time_s": results.get("wall_time_s"),
        })
    distilled = [r for r in rows if r["kind"] == "distil"]
    summary = {
        "dims": list(dims), "model": model, "links": rows,
        "teacher_pretraining_s": next((r["wall_time_s"] for r in rows if r["kind"] == "pretrain"), None),
        "chain_training_s": round(sum(r["wall_time_s"] or 0.0 for r in distilled), 2),
    }
    atomic_write_json(summary, root / CHAIN_FILE)
    _print_summary(summary)
    print(f"chain written to {root / CHAIN_FILE}")
    return summary


def _print_summary(summary: Dict[str, Any]) -> None:
    from neuralkg_distil.run.results import METRIC_COLUMNS, table

    rows = [{"link": r["link"], "kind": r["kind"], "dim": r["dim"], **{k: r.get(k) for k in METRIC_COLUMNS},
             "epochs": r.get("epochs"), "wall_s": f"{r.get('wall_time_s') or 0:.0f}"} for r in summary["links"] if r["kind"] != "given"]
    print(f"\nIterDE chain {' -> '.join(map(str, summary['dims']))} ({summary['model']}, filtered test metrics)")
    print(table(rows, ("link", "kind", "dim") + METRIC_COLUMNS + ("epochs", "wall_s")))
    pre = summary["teacher_pretraining_s"]
    print(f"chain training {summary['chain_training_s']:.0f} s" + (f" (teacher pretraining {pre:.0f} s, apart)" if pre else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralkg-distil iterate",
        description="IterDE: distil a chain of halving dimensions, each link the next one's frozen teacher. "
                    "Every other flag is a training flag (see neuralkg-distil --help) and applies to every link.",
    )
    parser.add_argument("--dims", required=True, help="the chain, teacher first: e.g. 512,256,128,64,32")
    parser.add_argument("--run_dir", default=None, help="the chain's folder (default: <output_dir>/<dataset>/<model>_iterde_<dims>)")
    parser.add_argument("--teacher_ckpt", default=None, help="the first link's trained model instead of pretraining it")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``neuralkg-distil iterate --dims ... [training flags]`` (bad input: ``cli.main`` prints one line, exit 2)."""
    parser = build_parser()
    args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    dims = parse_dims(args.dims)
    for reserved in ("--emb_dim", "--litmodel_name", "--stage", "--stage2", "--student_ckpt", "--resume"):
        if any(flag == reserved or flag.startswith(reserved + "=") for flag in rest):
            raise ConfigError(f"iterate sets {reserved} for each link itself; leave it out")
    import neuralkg_distil

    neuralkg_distil.register()
    from neuralkg_distil.cli.parser import parse_args

    probe = parse_args([*rest, "--emb_dim", str(dims[0])])  # the training flags, checked once up front
    root = Path(args.run_dir) if args.run_dir else (
        Path(probe.output_dir) / Path(probe.data_path).name / f"{probe.model_name}_iterde_{'-'.join(map(str, dims))}")
    started = time.time()
    try:
        run_chain(dims, rest, root, probe.model_name, args.teacher_ckpt)
    except KeyboardInterrupt:
        print("neuralkg-distil iterate: interrupted; finished links are kept (run the same command to continue)", file=sys.stderr)
        return 130
    print(f"iterate: {time.time() - started:.0f} s in this call")
    return 0
