"""Filtered shared negatives: the sampler's mask, the false-negative rate, and that every loss
(distillation losses through ``combine``, NeuralKG's pretraining losses) gives masked negatives
no weight while leaving unmasked batches exactly as before."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from neuralkg_distil.cli.parser import parse_args
from neuralkg_distil.methods.losses import DistilE_Loss, DualDE_Loss, Scores
from neuralkg_distil.methods.losses.terms import (
    ElementTerms, adversarial_neg_weights, combine, uniform_neg_weights,
)
from neuralkg_distil.training.pretrain_system import exclude_masked
from neuralkg_distil.training.sampling import TorchUniSampler, false_negative_rate


def hub_graph(folder: Path, entities: int = 20) -> Path:
    """Every entity e > 0 is linked to the hub 0 by relation 'to_hub' (and a chain by 'next'):
    nearly every head-side corruption of (e, to_hub, 0) is a true triple."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"e{i}" for i in range(entities)]
    (folder / "entities.dict").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(names)))
    (folder / "relations.dict").write_text("0\tto_hub\n1\tnext\n")
    train = [(names[i], "to_hub", names[0]) for i in range(1, entities)]
    train += [(names[i], "next", names[i + 1]) for i in range(1, entities - 1)]
    (folder / "train.txt").write_text("".join("\t".join(t) + "\n" for t in train))
    (folder / "valid.txt").write_text(f"{names[0]}\tnext\t{names[1]}\n")
    (folder / "test.txt").write_text(f"{names[1]}\tnext\t{names[0]}\n")
    return folder


def sampler_for(data: Path, *flags: str) -> TorchUniSampler:
    args = parse_args(["--data_path", str(data), "--num_neg", "16", "--neg_chunk_size", "4", *flags])
    return TorchUniSampler(args)


def test_mask_marks_exactly_the_true_triples(tmp_path):
    sampler = sampler_for(hub_graph(tmp_path / "hub"))
    known = set(sampler.train_triples)
    triples = sampler.train_triples[:10]  # 10 rows, chunks of 4: the last chunk is short
    for _ in range(4):  # both sides
        batch = sampler.sampling(triples)
        cand, mask = batch["negative_sample"], batch["negative_mask"]
        assert cand.shape == (3, 16) and mask.shape == (10, 16) and mask.dtype == torch.bool
        for b, (h, r, t) in enumerate(triples):
            for j, e in enumerate(cand[b // 4].tolist()):
                triple = (e, r, t) if batch["mode"] == "head-batch" else (h, r, e)
                assert bool(mask[b, j]) == (triple in known)


def test_false_negative_rate_is_high_before_and_zero_after(tmp_path):
    data = hub_graph(tmp_path / "hub")
    hub_rows = [t for t in sampler_for(data).train_triples if t[1] == 0]  # (e, to_hub, 0)
    batches = [hub_rows[:12]] * 8
    before = false_negative_rate(sampler_for(data, "--filter_shared_negatives", "off"), batches)
    assert before["head"] > 0.5  # 18 of the 19 other entities are linked to the hub
    assert false_negative_rate(sampler_for(data), batches)["all"] == 0.0  # auto: follows --filter_flag
    assert "negative_mask" not in sampler_for(data, "--filter_flag").sampling(hub_rows[:4])  # NeuralKG's "no filter"


def test_bloom_lookup_is_exact(small_graph):
    sampler = TorchUniSampler(parse_args(["--data_path", str(small_graph)]))
    train = torch.tensor(sampler.train_triples)
    keys = torch.cat([sampler._keys(train[:, 0], train[:, 1], train[:, 2]), torch.randint(0, 60 * 4 * 60, (5000,))])
    assert torch.equal(sampler._known_keys(keys), torch.isin(keys, sampler._train_keys))


# ------------------------------------------------------------------------------ the losses
def scores(rows=6, k=5, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(rows, generator=g, dtype=torch.double) * 3
    neg = torch.randn(rows, k, generator=g, dtype=torch.double) * 3
    return pos.requires_grad_(requires_grad), neg.requires_grad_(requires_grad)


@pytest.mark.parametrize("temperature", [None, 0.5])
def test_neg_weights_skip_masked_and_renormalise(temperature):
    _, neg = scores()
    mask = torch.zeros_like(neg, dtype=torch.bool)
    mask[:, 0] = True
    mask[1] = True  # a row with nothing left
    weights = uniform_neg_weights(neg, mask) if temperature is None else adversarial_neg_weights(neg, temperature, mask)
    assert torch.all(weights[mask] == 0) and torch.all(torch.isfinite(weights))
    sums = weights.sum(1)
    assert sums[1] == 0 and torch.allclose(sums[[0, 2, 3, 4, 5]], torch.ones(5, dtype=torch.double))
    reference = (torch.full((6, 4), 0.25, dtype=torch.double) if temperature is None
                 else torch.softmax(neg[:, 1:] * temperature, 1))
    torch.testing.assert_close(weights[[0, 2, 3, 4, 5], 1:], reference[[0, 2, 3, 4, 5]])
    # no mask, or an empty one: the old weights
    old = uniform_neg_weights(neg) if temperature is None else adversarial_neg_weights(neg, temperature)
    empty = torch.zeros_like(mask)
    new = uniform_neg_weights(neg, empty) if temperature is None else adversarial_neg_weights(neg, temperature, empty)
    torch.testing.assert_close(new, old)


def test_combine_gives_masked_negatives_zero_weight():
    rows, k = 4, 3
    ones = torch.ones(rows, k, dtype=torch.double)
    terms = ElementTerms(torch.ones(rows, dtype=torch.double), ones.clone(), torch.ones(rows, dtype=torch.double),
                         ones.clone(), ones / k)
    mask = torch.zeros(rows, k, dtype=torch.bool)
    mask[0, 0] = True
    poisoned = ElementTerms(terms.soft_pos, terms.soft_neg.clone(), terms.hard_pos, terms.hard_neg.clone(), terms.neg_weights)
    poisoned.soft_neg[0, 0] = float("inf")
    poisoned.hard_neg[0, 0] = float("nan")
    w_pos, w_neg = torch.full((rows,), 0.3, dtype=torch.double), torch.full((rows, k), 0.3, dtype=torch.double)
    # the masked element is ignored (even inf / NaN), the row's weights renormalised: still sum 1
    assert combine(poisoned, w_pos, w_neg, neg_mask=mask).item() == pytest.approx(1.0)
    assert torch.equal(combine(terms, w_pos, w_neg, neg_mask=torch.zeros_like(mask)), combine(terms, w_pos, w_neg))


@pytest.mark.parametrize("loss_class", [DualDE_Loss, DistilE_Loss])
@pytest.mark.parametrize("stage", [1, 2])
def test_distillation_loss_ignores_masked_negatives(loss_class, stage):
    loss = loss_class(argparse.Namespace(model_name="ComplEx", adv_temp=1.0), soft_distance="bce")
    sp, sn = scores(seed=1, requires_grad=True)
    tp, tn = scores(seed=2, requires_grad=stage == 2)
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, 2] = True  # one masked column: the result must equal the loss without that column
    masked = loss(Scores(sp, sn), Scores(tp, tn), stage, negative_mask=mask)
    keep = [0, 1, 3, 4]
    without = loss(Scores(sp, sn[:, keep]), Scores(tp, tn[:, keep]), stage)
    torch.testing.assert_close(masked, without)
    masked.backward()
    assert torch.all(sn.grad[:, 2] == 0) and torch.all(sn.grad[:, keep].abs().sum(0) > 0)
    if stage == 2:
        assert torch.all(tn.grad[:, 2] == 0)
    # an empty mask gives exactly the unmasked loss
    empty = loss(Scores(sp, sn), Scores(tp, tn), stage, negative_mask=torch.zeros_like(mask))
    assert torch.equal(empty.detach(), loss(Scores(sp, sn), Scores(tp, tn), stage).detach())


@pytest.mark.parametrize("adversarial", [True, False])
@pytest.mark.parametrize("loss_name", ["Adv_Loss", "Margin_Loss"])
def test_pretraining_losses_ignore_masked_negatives(loss_name, adversarial):
    import importlib

    from neuralkg_distil.kge.spec import ModelSpec, build_model

    model = build_model(ModelSpec("TransE", 4, 10, 2, margin=4.0))
    args = argparse.Namespace(model_name="TransE", negative_adversarial_sampling=adversarial, adv_temp=1.0,
                              use_weight=False, regularization=0.0)
    loss = getattr(importlib.import_module("neuralkg.loss"), loss_name)(args, model)
    pos, neg = scores(seed=3, requires_grad=True)
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, 2] = True
    mask[0] = True  # a row with every candidate masked keeps them (see exclude_masked)
    value = loss(pos.unsqueeze(1), exclude_masked(neg, mask))
    value.backward()
    assert torch.isfinite(value) and torch.all(torch.isfinite(neg.grad))
    assert torch.all(neg.grad[1:, 2] == 0) and torch.all(neg.grad[0] != 0)
    # the masked negative adds nothing: equal to its score being pushed to -infinity
    far = neg.detach().clone()
    far[1:, 2] = -1e4
    torch.testing.assert_close(value, loss(pos.detach().unsqueeze(1), far))
    if adversarial and loss_name == "Adv_Loss":  # renormalised softmax: as if never drawn
        keep = [0, 1, 3, 4]
        rows = loss(pos.detach()[1:].unsqueeze(1), neg.detach()[1:, keep])
        full = loss(pos.detach()[:1].unsqueeze(1), neg.detach()[:1])
        torch.testing.assert_close(value, (5 * rows + full) / 6)
    plain = loss(pos.detach().unsqueeze(1), neg.detach())
    assert torch.equal(loss(pos.detach().unsqueeze(1), exclude_masked(neg.detach(), torch.zeros_like(mask))), plain)
    assert torch.equal(exclude_masked(neg, None), neg)
