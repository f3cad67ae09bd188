"""Using a trained model: neuralkg_distil.load, export / predict / evaluate, and streaming top-k."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import neuralkg_distil
from neuralkg_distil.cli.main import main
from neuralkg_distil.evaluation.ranking import FilterIndex, RankingEvaluator, stream_queries
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.kge.scoring import scorer_for

from conftest import cli_flags

FORMATS = ["npy", "pt", "safetensors"]  # safetensors is in requirements.txt


@pytest.fixture(scope="module")
def trained(small_graph, tmp_path_factory):
    out = tmp_path_factory.mktemp("serve")
    flags = cli_flags(small_graph, out, "--model_name", "ComplEx", "--litmodel_name", "KGELitModel",
                      "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.01", "--max_epochs", "2")
    assert main(flags) == 0
    return out / small_graph.name / "ComplEx_8" / "pretrain" / "best.ckpt"


def names(path: Path) -> list:
    return [line.split("\t")[1] for line in path.read_text().splitlines()]


def test_export_every_format_and_reload(trained, small_graph, tmp_path):
    handle = neuralkg_distil.load(trained)
    assert handle.data_path == small_graph.resolve() and handle.spec.emb_dim == 8
    ents, rels = names(small_graph / "entities.dict"), names(small_graph / "relations.dict")
    triples = [(ents[i], rels[i % len(rels)], ents[(3 * i) % len(ents)]) for i in range(20)]
    ids = torch.tensor([[ents.index(h), rels.index(r), ents.index(t)] for h, r, t in triples])
    with torch.no_grad():
        own = handle.model(ids).reshape(-1)
    assert torch.equal(handle.score(triples), own)
    assert torch.equal(handle.score(ids.tolist()), own)  # ids work as well as names
    for fmt in FORMATS:
        out = tmp_path / fmt
        assert main(["export", "--ckpt", str(trained), "--format", fmt, "--out", str(out)]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["model"] == "ComplEx" and manifest["dim"] == 8 and manifest["num_ent"] == len(ents)
        assert manifest["metrics"]["test"]["mrr"] > 0  # from results.json beside the checkpoint
        again = neuralkg_distil.load(out)
        assert torch.equal(again.score(triples), own), fmt
        assert torch.equal(again.entity_embeddings(), handle.entity_embeddings())
        assert torch.equal(again.relation_embeddings(), handle.relation_embeddings())
        assert again.predict_tails(ents[0], rels[0], k=5, filtered=True) == handle.predict_tails(ents[0], rels[0], k=5, filtered=True)


def brute_force(handle, head, rel, k, filtered):
    with torch.no_grad():
        row = handle.scorer.score_tails(torch.tensor([head]), torch.tensor([rel]))[0]
    if filtered:
        _, cols = handle.filter_index().tails_of(torch.tensor([head]), torch.tensor([rel]))
        row[cols] = float("-inf")
    order = torch.argsort(row, descending=True, stable=True)[:k]
    return [int(i) for i in order if row[i] != float("-inf")], row


@pytest.mark.parametrize("filtered", [False, True])
def test_predict_by_names_matches_brute_force(trained, small_graph, capsys, filtered):
    handle = neuralkg_distil.load(trained)
    ents, rels = handle.entities, handle.relations
    train = (small_graph / "train.txt").read_text().splitlines()[0].split("\t")
    head, rel = ents.index(train[0]), rels.index(train[1])
    want, row = brute_force(handle, head, rel, 7, filtered)
    got = handle.predict_tails(ents[head], rels[rel], k=7, filtered=filtered)
    assert [p.id for p in got] == want and [p.entity for p in got] == [ents[i] for i in want]
    assert [p.score for p in got] == pytest.approx([float(row[i]) for i in want], abs=1e-6)
    heads = handle.predict_heads(rels[rel], train[2], k=3, filtered=filtered)
    assert len(heads) == 3
    flags = ["predict", "--ckpt", str(trained), "--head", train[0], "--relation", train[1], "--topk", "7"]
    assert main(flags + (["--filtered"] if filtered else [])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[1:8]] == [ents[i] for i in want]
    if filtered:  # the known true tails are gone (other than none asked for)
        _, cols = handle.filter_index().tails_of(torch.tensor([head]), torch.tensor([rel]))
        assert not set(want) & set(cols.tolist())


def test_evaluate_command_equals_results_json(trained, capsys):
    assert main(["evaluate", "--ckpt", str(trained)]) == 0
    out = capsys.readouterr().out
    saved = json.loads((trained.parent / "results.json").read_text())["models"]["model"]["test"]
    assert f"{saved['mrr']:.4f}" in out and f"{saved['hits@10']:.4f}" in out


def test_bad_input_one_line_exit_2(trained, small_graph, tmp_path, capsys):
    def fails(argv, message):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("neuralkg-distil: error: ") and message in err[0], err
        return err[0]

    ents, rels = names(small_graph / "entities.dict"), names(small_graph / "relations.dict")
    line = fails(["predict", "--ckpt", str(trained), "--head", ents[0] + "x", "--relation", rels[0]], "unknown entity")
    assert f"closest: '{ents[0]}'" in line
    fails(["predict", "--ckpt", str(trained), "--head", ents[0], "--relation", rels[0][:-1]], "unknown relation")
    fails(["predict", "--ckpt", str(tmp_path / "missing.ckpt"), "--head", "a", "--relation", "b"], "checkpoint not found")
    out = tmp_path / "full"
    out.mkdir()
    (out / "x").write_text("keep")
    fails(["export", "--ckpt", str(trained), "--out", str(out)], "already holds files")
    assert (out / "x").read_text() == "keep"
    # a checkpoint whose recorded dataset is gone, and no --data_path
    moved = tmp_path / "data"
    shutil.copytree(small_graph, moved)
    ckpt = torch.load(trained, weights_only=True)
    ckpt["neuralkg_distil"]["data_path"] = str(tmp_path / "gone")
    torch.save(ckpt, tmp_path / "orphan.ckpt")
    fails(["predict", "--ckpt", str(tmp_path / "orphan.ckpt"), "--head", ents[0], "--relation", rels[0]], "--data_path")
    assert main(["predict", "--ckpt", str(tmp_path / "orphan.ckpt"), "--data_path", str(moved),
                 "--head", ents[0], "--relation", rels[0]]) == 0
    capsys.readouterr()
    # dictionaries that are not the ones it was trained on
    (moved / "entities.dict").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(reversed(ents))))
    fails(["evaluate", "--ckpt", str(tmp_path / "orphan.ckpt"), "--data_path", str(moved)], "differ")
    # an environment without the safetensors package gets one line, not an ImportError
    import sys

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "safetensors", None)
        patch.setitem(sys.modules, "safetensors.torch", None)
        fails(["export", "--ckpt", str(trained), "--format", "safetensors", "--out", str(tmp_path / "st")], "pip install safetensors")


@pytest.mark.parametrize("name", ["TransE", "TransH", "ComplEx", "RotatE", "DistMult", "SimplE"])
def test_streaming_evaluator_equals_full_rows(name, monkeypatch):
    torch.manual_seed(1)
    num_ent, num_rel = 97, 5
    model = build_model(ModelSpec(name, 6, num_ent, num_rel, margin=4.0)).eval()
    triples = torch.stack([torch.randint(0, num_ent, (300,)), torch.randint(0, num_rel, (300,)),
                           torch.randint(0, num_ent, (300,))], dim=1)
    index = FilterIndex.from_triples(triples, num_ent, num_rel)
    # tiny blocks: many entity blocks per batch, queries whose targets and known tails span blocks
    monkeypatch.setattr("neuralkg_distil.evaluation.ranking._BLOCK_ELEMENTS", {"cpu": 64})
    for ties in ("realistic", "optimistic", "pessimistic"):
        full = RankingEvaluator(index, batch_size=16, ties=ties, streaming=False).ranks(model, triples[:60])
        streamed = RankingEvaluator(index, batch_size=16, ties=ties).ranks(model, triples[:60])
        assert torch.equal(streamed, full), (name, ties)
    # top-k by blocks equals the top-k of the full rows
    scorer = scorer_for(model)
    h, r = triples[:40, 0], triples[:40, 1]
    with torch.no_grad():
        values, ids, _ = stream_queries(scorer, True, h, r, num_ent, k=10)
        want = scorer.score_tails(h, r).topk(10, dim=1)
    torch.testing.assert_close(values, want.values, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.gather(scorer.score_tails(h, r).detach(), 1, ids), values, rtol=0, atol=1e-5)
