"""``neuralkg-distil sweep --config FILE.yaml``: a wandb sweep file, run locally and offline."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence

from neuralkg_distil.sweep.config import SweepConfig, load_sweep
from neuralkg_distil.sweep.plan import SweepRun, plan_runs
from neuralkg_distil.sweep.report import point_text, run_line, varying, write_state, write_table
from neuralkg_distil.sweep.runner import Outcome, finished_results, run_dir, run_one


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralkg-distil sweep",
        description="Run a wandb sweep file (method grid or random) locally, without wandb: one training per run, "
        "runs with identical effective flags trained once, finished runs skipped on the next call, killed ones resumed.",
    )
    parser.add_argument("--config", required=True, help="wandb sweep YAML (e.g. scripts/sweeps/*.yaml)")
    parser.add_argument("--count", type=int, default=None, help="number of distinct runs (default: the file's run_cap; "
                        "needed for method random; a grid runs all its combinations)")
    parser.add_argument("--sample_seed", type=int, default=0, help="seed of method random's draws (the trainings' own "
                        "--seed is a parameter like any other); default 0")
    parser.add_argument("--output_dir", default=None, help="the sweep's folder (default: output/sweeps/<file name>)")
    parser.add_argument("--dry_run", action="store_true", help="list the runs and duplicates, train nothing")
    return parser


def _plan_lines(config: SweepConfig, runs: Sequence[SweepRun], output_dir: Path) -> List[str]:
    names = varying(config, runs)
    dups = sum(len(r.duplicates) for r in runs)
    lines = [f"sweep {config.source} ({config.method}): {len(runs) + dups} points, {len(runs)} distinct runs"
             + (f" ({dups} duplicate(s) trained once)" if dups else "") + f"; folder {output_dir}"]
    for run in runs:
        state = "done  " if finished_results(run_dir(output_dir, run)) is not None else "to run"
        lines.append(f"{state} {run.run_id}  {point_text(run.point, names)}"
                     + (f"  (ignores {', '.join(run.unused)})" if run.unused else ""))
        lines += [f"         same as {run.run_id}: {point_text(p, names)}" for p in run.duplicates]
    return lines


def run_sweep(config: SweepConfig, runs: Sequence[SweepRun], output_dir: Path, seed: Optional[int]) -> List[Outcome]:
    """Every run in order, one printed line each; the table and state are rewritten after each run.
    SIGTERM stops the sweep like Ctrl-C: the running training is stopped (and resumed on the next
    call) instead of being left running without its sweep."""
    from neuralkg_distil.run.runtime import sigterm_as_interrupt

    names = varying(config, runs)
    outcomes: List[Outcome] = []
    with sigterm_as_interrupt():
        for index, run in enumerate(runs, 1):
            outcomes.append(run_one(output_dir, run))
            print(run_line(index, len(runs), outcomes[-1], config, names), flush=True)
            write_state(outcomes, config, output_dir, seed)
            write_table(outcomes, config, output_dir)
    return outcomes


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    config = load_sweep(args.config)
    output_dir = Path(args.output_dir or Path("output") / "sweeps" / config.source.stem)
    runs = plan_runs(config, args.count, args.sample_seed)
    seed = args.sample_seed if config.method == "random" else None
    for line in _plan_lines(config, runs, output_dir):
        print(line)
    if args.dry_run:
        return 0
    output_dir.mkdir(parents=True, exist_ok=True)
    outcomes = run_sweep(config, runs, output_dir, seed)
    paths = write_table(outcomes, config, output_dir)
    failed = sum(o.status.startswith("failed") for o in outcomes)
    print(f"{len(outcomes) - failed} of {len(outcomes)} runs finished; table in {paths['markdown']} and {paths['csv']}")
    return 1 if failed else 0
