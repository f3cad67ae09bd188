"""The benchmarks run end to end on a small graph and print their tables and summary line."""
from __future__ import annotations

import re
import subprocess
import sys

import torch

from conftest import REPO


def run_bench(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "neuralkg_distil.bench", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_speed_bench_prints_tables_and_summary(small_graph):
    out = run_bench("speed", "--data_path", str(small_graph), "--teacher_dim", "16", "--student_dim", "4",
                    "--batch_size", "32", "--num_neg", "16", "--neg_chunk_size", "8", "--steps", "1", "--ref_steps", "1",
                    "--ref_eval_triples", "20", "--eval_dim", "8", "--device", "cpu")
    for path in ("reference", "per-triple", "shared", "ours"):
        assert re.search(rf"^{path}\s", out, re.M), path
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"train_step_speedup=\d+\.\d eval_speedup=\d+\.\d", last), last
    # both evaluators rank the same random model: their MRRs (different triple counts) are comparable
    mrrs = [float(m) for m in re.findall(r"^(?:reference|ours)\s.*\s(0\.\d+)\s+\d+\.\d+$", out, re.M)]
    assert len(mrrs) == 2


def test_inference_bench_table(small_graph):
    out = run_bench("inference", "--data_path", str(small_graph), "--dims", "16", "4", "--repeats", "1", "--device", "cpu",
                    "--models", "TransE", "RotatE", "--max_triples", "50")
    assert re.search(r"^teacher\s+16\s", out, re.M) and re.search(r"^student\s+4\s", out, re.M)
    assert "compression" in out and "speedup" in out and "SHORTENED RUN" in out and "randomly initialised" in out
    for model in ("TransE", "RotatE"):
        assert re.search(rf"^teacher\s+64\s+{model}\s", out, re.M) and re.search(rf"^student\s+8\s+{model}\s", out, re.M)
    assert re.fullmatch(r"speedup_over_ratio_min=\d+\.\d\d", out.strip().splitlines()[-1])


def test_epoch_bench_table_and_summary(small_graph):
    out = run_bench("epoch", "--data_path", str(small_graph), "--models", "RotatE", "--dim", "8",
                    "--teacher_dim", "8", "--student_dim", "4", "--batch_size", "32", "--epochs", "1",
                    "--max_batches", "2", "--valid_repeats", "1", "--threads", "1")
    assert "extrapolated" in out
    row = re.search(r"^RotatE\s+25\s+(.*)$", out, re.M)  # the paper's 25 negatives
    assert row, out
    cells = row.group(1).split()
    # no-DS neuralkg, ours, speedup, sample; stage1 neuralkg, ours, speedup, sample; stage1/no-DS; valid_s
    assert len(cells) == 10 and cells[2].endswith("x") and cells[6].endswith("x"), cells
    assert all(re.fullmatch(r"\d+\.\d\d", c) for i, c in enumerate(cells) if i not in (2, 6)), cells
    for column in ("no-DS neuralkg", "no-DS ours", "stage1 neuralkg", "stage1 ours", "stage1/no-DS", "valid_s"):
        assert column in out, column
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"epoch_s_max=\d+\.\d\d epoch_speedup_min=\d+\.\d stage1_over_nods_max=\d+\.\d\d", last), last


def test_inference_rounds_time_every_dimension_once_per_round_in_rotating_order():
    from neuralkg_distil.bench.inference import interleaved_times

    order = []
    runs = [lambda i=i: order.append(i) for i in range(3)]
    times = interleaved_times(runs, 4, torch.device("cpu"))
    assert [len(t) for t in times] == [4, 4, 4]
    assert order == [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]


def test_mulde_bench_parts_and_summary():
    out = run_bench("mulde", "--num_ent", "400", "--num_rel", "3", "--batch", "16", "--topk", "20", "--junior_dim", "8",
                    "--teacher_dim", "8", "--repeats", "1", "--junior_scale", "0.05", "--junior_bias", "0.3")
    for side in ("tail-batch", "head-batch"):
        row = re.search(rf"^junior RotH-8 all-entity top-20, {side}\s+whole\s+\d+\.\d+ s\s+blocks\s+\d+\.\d+ s\s+x\s*\d+\.\d\d"
                        rf"\s+\(blocks, no fused top-K\s+\d+\.\d+ s\)$", out, re.M)
        assert row, out
    for name in ("TransE", "ComplEx", "RotatE", "RotH"):
        assert re.search(rf"^teacher {name}-8 on the candidates\s+whole", out, re.M), name
    assert re.fullmatch(r"step_speedup=\d+\.\d\d", out.strip().splitlines()[-1])
