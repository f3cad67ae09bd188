"""Shared negatives: the batched scorers equal NeuralKG's forward on the expanded negatives."""
from __future__ import annotations

import argparse
import copy

import pytest
import torch

from neuralkg_distil.cli.parser import parse_args
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.training.sampling import TorchUniSampler
from neuralkg_distil.training.batch_scores import FastTrainScorer, NeuralKGTrainScorer, expand_shared

from conftest import cli_flags


@pytest.mark.parametrize("model_name", ["ComplEx", "DistMult", "SimplE", "TransE", "TransH", "RotatE"])
@pytest.mark.parametrize("mode", ["head-batch", "tail-batch"])
@pytest.mark.parametrize("rows,chunk", [(12, 4), (10, 4), (7, 7)])
def test_fast_shared_scores_equal_neuralkg_forward(model_name, mode, rows, chunk):
    torch.manual_seed(0)
    model = build_model(ModelSpec(model_name, 6, 40, 5, margin=4.0)).double()
    pos = torch.stack([torch.randint(0, 40, (rows,)), torch.randint(0, 5, (rows,)), torch.randint(0, 40, (rows,))], 1)
    candidates = torch.randint(0, 40, (-(-rows // chunk), 9))
    batch = {"positive_sample": pos, "negative_sample": candidates, "mode": mode, "neg_chunk_size": chunk}
    fast, reference = FastTrainScorer()(model, batch), NeuralKGTrainScorer()(model, batch)
    expanded = expand_shared(batch)
    assert expanded.shape == (rows, 9)
    assert torch.equal(expanded[0], candidates[0]) and torch.equal(expanded[-1], candidates[(rows - 1) // chunk])
    direct = model(pos, expanded, mode)  # NeuralKG's forward, per triple
    torch.testing.assert_close(reference.neg, direct)
    torch.testing.assert_close(fast.neg, direct, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(fast.pos, reference.pos)


def test_shared_scores_are_differentiable():
    model = build_model(ModelSpec("ComplEx", 4, 20, 3, margin=4.0))
    batch = {"positive_sample": torch.tensor([[0, 1, 2], [3, 2, 4]]), "negative_sample": torch.tensor([[5, 6, 7]]),
             "mode": "tail-batch", "neg_chunk_size": 2}
    FastTrainScorer()(model, batch).neg.sum().backward()
    assert model.ent_emb.weight.grad[[5, 6, 7]].abs().sum() > 0


def test_sampler_per_triple_filters_and_shared_shapes(small_graph):
    args = parse_args(cli_flags(small_graph, "/tmp/unused", "--num_neg", "16"))
    sampler = TorchUniSampler(copy.copy(args))
    triples = sampler.train_triples[:32]
    known = set(sampler.train_triples)
    modes = []
    for _ in range(4):
        batch = sampler.sampling(triples)
        modes.append(batch["mode"])
        assert batch["negative_sample"].shape == (32, 16) and "neg_chunk_size" not in batch
        for (h, r, t), negs in zip(triples, batch["negative_sample"].tolist()):
            corrupted = [(e, r, t) if batch["mode"] == "head-batch" else (h, r, e) for e in negs]
            assert not known & set(corrupted)  # filter_flag (NeuralKG's default) removes true triples
    assert set(modes) == {"head-batch", "tail-batch"}  # alternates like UniSampler
    shared = TorchUniSampler(argparse.Namespace(**{**vars(copy.copy(args)), "neg_chunk_size": 10}))
    batch = shared.sampling(triples)
    assert batch["negative_sample"].shape == (4, 16) and batch["neg_chunk_size"] == 10


def test_distillation_with_shared_negatives_end_to_end(small_graph, tmp_path):
    from neuralkg_distil.cli.main import main

    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--neg_chunk_size", "32", "--max_epochs", "2")
    assert main(flags + ["--litmodel_name", "PretrainLitModel", "--loss_name", "Adv_Loss", "--emb_dim", "16"]) == 0
    teacher = tmp_path / small_graph.name / "ComplEx_16" / "pretrain" / "best.ckpt"
    assert main(flags + ["--litmodel_name", "KGDistillLitModel", "--loss_name", "DualDE_Loss", "--emb_dim", "4",
                         "--teacher_ckpt", str(teacher)]) == 0
    assert main(flags + ["--litmodel_name", "KGELitModel", "--emb_dim", "8", "--run_dir", str(tmp_path / "x")]) == 2
