"""The shell scripts: every one passes valid flags with every required value, and the WordNet
ComplEx trio runs end to end (on a generated graph, with sizes shrunk through extra flags)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from neuralkg_distil.cli.parser import parse_args

from conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*/*_*_*.sh"))
PARSE_ONLY = """
import json, sys
sys.path.insert(0, {repo!r})
from neuralkg_distil.cli.parser import parse_args
argv = [a for a in sys.argv[1:] if a not in ("-u", "main.py")]
print(json.dumps(vars(parse_args(argv)), default=str))
"""


def test_every_model_dataset_stage_has_a_script():
    names = {p.name for p in SCRIPTS}
    for folder, key in (("WordNet", "WN"), ("FB15K237", "FB")):
        for model in ("ComplEx", "RotatE", "TransE", "TransH"):
            for stage in ("pretrain", "distil", "distil_stage2"):
                assert f"{model}_{key}_{stage}.sh" in names
                assert (REPO / "scripts" / folder / f"{model}_{key}_{stage}.sh").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.slow  # a real process: run by make test and CI
def test_script_flags_parse_with_required_values(script, tmp_path):
    wrapper = tmp_path / "parse_only.py"
    wrapper.write_text(PARSE_ONLY.format(repo=str(REPO)))
    env = {**os.environ, "PYTHON": f"{sys.executable} {wrapper}", "DATA_PATH": "/data/somewhere"}
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr
    args = json.loads(proc.stdout.strip().splitlines()[-1])
    assert args["data_path"] == "/data/somewhere"  # the data path comes from the environment
    assert args["train_bs"] > 0 and args["num_neg"] > 0 and args["margin"] > 0 and args["max_epochs"] > 0
    assert args["accelerator"] == "auto" and args["gpus"] is None  # never a hard-coded GPU
    assert args["preset"].split("/")[1] == args["model_name"] == script.name.split("_")[0]
    dualde = script.name.startswith("ComplEx_WN")
    if script.name.endswith("_pretrain.sh"):
        assert args["litmodel_name"] == "PretrainLitModel" and args["emb_dim"] == (500 if dualde else 64)
    else:
        assert args["litmodel_name"] == "KGDistillLitModel" and args["emb_dim"] < args["teacher_dim"]
        assert (args["teacher_ckpt"] is not None) == script.name.endswith("_distil.sh")
        assert args["stage2"] == script.name.endswith("_stage2.sh")
        if script.name.startswith("Trans"):
            assert args["loss_name"] == "DistilE_Loss" and args["rank_margin"] > 0 and args["num_neg"] == 5
    if script.name.startswith("Trans") and script.name.endswith("_pretrain.sh"):
        assert args["loss_name"] == "MarginRanking_Loss"  # the same hard term as DistilE's margin family
    if script.name.startswith("ComplEx_WN"):  # the DualDE reference setting
        assert args["teacher_dim"] == 500 if "distil" in script.name else args["emb_dim"] == 500
        if "distil" in script.name:
            assert args["emb_dim"] == 64 and args["train_bs"] == 1024 and args["num_neg"] == 1024
            assert args["lr"] == (1e-5 if "stage2" in script.name else 1e-4)


@pytest.mark.slow  # a real process: run by make test and CI
def test_wordnet_complex_trio_runs(small_graph, tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "DATA_PATH": str(small_graph), "OUTPUT_DIR": str(tmp_path),
           "TEACHER_DIM": "16", "STUDENT_DIM": "4", "MAX_EPOCHS": "2", "CHECK_PER_EPOCH": "1", "NUM_WORKERS": "0"}
    shrink = ["--train_bs", "128", "--num_neg", "8", "--enable_progress_bar", "false"]
    for name in ("ComplEx_WN_pretrain.sh", "ComplEx_WN_distil.sh", "ComplEx_WN_distil_stage2.sh"):
        proc = subprocess.run(["sh", str(REPO / "scripts" / "WordNet" / name), *shrink], capture_output=True, text=True,
                              env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / small_graph.name / "ComplEx_4_distil" / "stage2" / "results.json").read_text())
    assert results["models"]["teacher"]["emb_dim"] == 16 and results["models"]["model"]["emb_dim"] == 4


def test_sweep_configs_name_real_flags():
    for path in (REPO / "scripts" / "sweeps").glob("*.yaml"):
        sweep = yaml.safe_load(path.read_text())
        # a wandb agent calls: python main.py --use_wandb --key=value ...
        argv = ["--use_wandb"] + [
            f"--{key}={spec['value'] if 'value' in spec else spec['values'][0]}" for key, spec in sweep["parameters"].items()
        ]
        args = parse_args(argv)
        assert args.use_wandb and args.litmodel_name == "KGDistillLitModel" and args.num_neg > 0 and sweep["metric"]["name"] == "Eval|mrr"
        for key, spec in sweep["parameters"].items():
            assert str(getattr(args, key)) == str(spec["value"] if "value" in spec else spec["values"][0])
