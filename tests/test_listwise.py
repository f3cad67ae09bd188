"""Listwise soft labels over the teacher's top-k candidates (--teacher_topk)."""
from __future__ import annotations

import argparse
import math

import pytest
import torch

from neuralkg_distil.methods.candidates import CandidateTable
from neuralkg_distil.cli.parser import parse_args
from neuralkg_distil.errors import ConfigError
from neuralkg_distil.training.distill_system import KGDistillLitModel
from neuralkg_distil.methods.losses.listwise import listwise_kl
from neuralkg_distil.kge.spec import ModelSpec, build_model
from neuralkg_distil.kge.scoring import scorer_for
from neuralkg_distil.methods.roles import StageModels

NUM_ENT, NUM_REL = 40, 3


def test_listwise_kl_by_hand():
    learner = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    label = torch.tensor([[math.log(3.0), 0.0], [1.0, 0.0]])
    kl = listwise_kl(learner, label)
    # row 0: p = (3/4, 1/4), q = (1/2, 1/2); row 1: identical distributions
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert kl[0].item() == pytest.approx(expected, rel=1e-6)
    assert kl[1].item() == pytest.approx(0.0, abs=1e-7)
    # temperature: KL of the softened distributions times T^2
    t = 2.0
    p = torch.softmax(label[0] / t, 0)
    q = torch.softmax(learner[0] / t, 0)
    assert listwise_kl(learner, label, t)[0].item() == pytest.approx((p * (p / q).log()).sum().item() * t * t, rel=1e-6)


def test_listwise_kl_ignores_masked_candidates_and_stays_finite():
    learner = torch.tensor([[2.0, 0.0, 50.0], [1.0, 1.0, 1.0]], requires_grad=True)
    label = torch.tensor([[2.0, 0.0, -50.0], [0.0, 3.0, 1.0]])
    mask = torch.tensor([[False, False, True], [True, True, True]])
    kl = listwise_kl(learner, label, mask=mask)
    assert kl[0].item() == pytest.approx(0.0, abs=1e-6)  # equal once the third entry is left out
    assert kl[1].item() == 0.0  # nothing left to compare
    kl.sum().backward()
    assert torch.isfinite(learner.grad).all()
    assert learner.grad[0, 2].item() == 0.0 and learner.grad[1].abs().sum().item() == 0.0


def test_listwise_kl_rejects_bad_temperature():
    with pytest.raises(ConfigError, match="kd_temperature"):
        listwise_kl(torch.zeros(1, 2), torch.zeros(1, 2), temperature=0.0)


def _model(name: str = "ComplEx", dim: int = 8, seed: int = 0):
    torch.manual_seed(seed)
    args = argparse.Namespace(**{**vars(parse_args(["--model_name", name])), "num_ent": NUM_ENT, "num_rel": NUM_REL})
    return build_model(ModelSpec(name, dim, NUM_ENT, NUM_REL, margin=6.0), args), args


def _triples(n: int = 80, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, NUM_ENT, (n,), generator=g), torch.randint(0, NUM_REL, (n,), generator=g),
                        torch.randint(0, NUM_ENT, (n,), generator=g)], dim=1)


@pytest.mark.parametrize("model_name", ["ComplEx", "TransE", "RotatE", "DistMult"])
def test_candidates_are_the_brute_force_top_k(model_name):
    model, _ = _model(model_name)
    triples = _triples()
    k = 7
    table = CandidateTable.from_model(model, triples, k, batch_size=16)  # several query blocks
    scorer = scorer_for(model)
    with torch.no_grad():
        for mode, anchor_col, answer_col in (("tail-batch", 0, 2), ("head-batch", 2, 0)):
            cand, own = table.lookup(triples, mode)
            assert cand.shape == (triples.shape[0], k + 1)
            if mode == "tail-batch":
                full = scorer.score_tails(triples[:, 0], triples[:, 1])
            else:
                full = scorer.score_heads(triples[:, 1], triples[:, 2])
            best = full.topk(k + 1, dim=1)
            picked = full.gather(1, cand)
            # the same scores as the brute-force sort (ids may differ only among exact ties)
            assert torch.allclose(picked, best.values, atol=1e-5)
            # the row's own answer is masked, and exactly k candidates stay per row
            is_answer = cand == triples[:, answer_col : answer_col + 1]
            assert bool((own | ~is_answer).all())
            assert bool(((~own).sum(dim=1) == k).all())


def test_a_query_outside_the_table_gets_every_candidate_masked():
    model, _ = _model()
    triples = _triples()
    table = CandidateTable.from_model(model, triples, 5)
    seen = set(map(tuple, triples[:, :2].tolist()))
    fresh = next((h, r) for h in range(NUM_ENT) for r in range(NUM_REL) if (h, r) not in seen)
    cand, own = table.lookup(torch.tensor([[fresh[0], fresh[1], 0]]), "tail-batch")
    assert bool(own.all())


def test_teacher_topk_out_of_range_is_one_line():
    model, _ = _model()
    with pytest.raises(ConfigError, match="--teacher_topk"):
        CandidateTable.from_model(model, _triples(), NUM_ENT)


def _lit(stage: int, kd_weight: float = 1.0) -> KGDistillLitModel:
    torch.manual_seed(0)
    args = parse_args(["--model_name", "ComplEx", "--loss_name", "DistilE_Loss", "--emb_dim", "4", "--lr", "0.05",
                       "--teacher_topk", "6", "--kd_weight", str(kd_weight), "--max_epochs", "4"])
    args = argparse.Namespace(**{**vars(args), "num_ent": NUM_ENT, "num_rel": NUM_REL})
    s_spec, t_spec = ModelSpec("ComplEx", 4, NUM_ENT, NUM_REL, margin=6.0), ModelSpec("ComplEx", 16, NUM_ENT, NUM_REL, margin=6.0)
    teacher = build_model(t_spec, args)
    models = StageModels(stage, build_model(s_spec, args), teacher, s_spec, t_spec, loss_state={})
    table = CandidateTable.from_model(teacher, _triples(), 6)
    return KGDistillLitModel(models.student, args, models, candidates=table)


def _batch(mode: str):
    pos = _triples(16, seed=2)  # rows of the table's queries and fresh ones alike
    pos[:8] = _triples()[:8]
    g = torch.Generator().manual_seed(5)
    return {"positive_sample": pos, "negative_sample": torch.randint(0, NUM_ENT, (16, 5), generator=g), "mode": mode}


def test_listwise_term_adds_to_the_loss_and_trains_the_student_only():
    with_kd, without = _lit(1, 1.0), _lit(1, 0.0)
    batch = _batch("tail-batch")
    assert with_kd.training_step(batch, 0).item() > without.training_step(batch, 0).item()
    teacher_before = {k: v.clone() for k, v in with_kd.teacher.state_dict().items()}
    optimizer = with_kd.configure_optimizers()["optimizer"]
    for i in range(4):
        with_kd.on_train_epoch_start()
        optimizer.zero_grad()
        with_kd.training_step(_batch("head-batch" if i % 2 else "tail-batch"), i).backward()
        optimizer.step()
    for key, value in with_kd.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key


def test_listwise_term_alone_moves_the_student_toward_the_teacher_order():
    """Over training steps on the listwise term alone (alpha 1 takes the hard term away, and the
    pointwise soft term is weighed against it), the student's KL to the teacher falls."""
    lit = _lit(1, 1.0)
    batch = _batch("tail-batch")
    pos = batch["positive_sample"][:8]
    cand, own = lit.candidates.lookup(pos, "tail-batch")

    def kl() -> float:
        with torch.no_grad():
            s, t = scorer_for(lit.model), scorer_for(lit.teacher)
            return listwise_kl(s.score_tails(pos[:, 0], pos[:, 1]).gather(1, cand),
                               t.score_tails(pos[:, 0], pos[:, 1]).gather(1, cand), mask=own).mean().item()

    before = kl()
    optimizer = torch.optim.Adam(lit.model.parameters(), lr=0.05)
    student = lit.train_scorer(lit.model, batch)
    for _ in range(60):
        optimizer.zero_grad()
        student = lit.train_scorer(lit.model, batch)
        teacher = lit.train_scorer(lit.teacher, batch).detach()
        lit._listwise_loss(batch, student, teacher, None).backward()
        optimizer.step()
    assert kl() < 0.5 * before


def test_candidate_bce_by_hand_and_with_a_mask():
    from neuralkg_distil.methods.losses.listwise import candidate_bce

    learner = torch.tensor([[0.0, 2.0, 5.0]])
    label = torch.tensor([[0.0, -1.0, 9.0]])
    p = torch.sigmoid(label)
    by_hand = -(p * torch.log(torch.sigmoid(learner)) + (1 - p) * torch.log(1 - torch.sigmoid(learner)))
    assert candidate_bce(learner, label)[0].item() == pytest.approx(by_hand.mean().item(), rel=1e-6)
    mask = torch.tensor([[False, True, False]])
    assert candidate_bce(learner, label, mask=mask)[0].item() == pytest.approx(by_hand[0, [0, 2]].mean().item(), rel=1e-6)


def test_kd_loss_picks_the_candidate_term():
    from neuralkg_distil.methods.losses import DistilE_Loss

    learner, label = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([[3.0, 2.0, -4.0]])
    kl = DistilE_Loss(model_name="ComplEx", kd_loss="kl").listwise_loss(learner, label)
    bce = DistilE_Loss(model_name="ComplEx", kd_loss="bce", kd_weight=2.0).listwise_loss(learner, label)
    assert kl.item() == pytest.approx(listwise_kl(learner, label)[0].item())
    from neuralkg_distil.methods.losses.listwise import candidate_bce

    assert bce.item() == pytest.approx(2.0 * candidate_bce(learner, label)[0].item())
    with pytest.raises(ConfigError, match="--kd_loss"):
        DistilE_Loss(model_name="ComplEx", kd_loss="mse")


def test_all_queries_table_covers_every_pair_and_matches_brute_force():
    model, _ = _model()
    table = CandidateTable.from_model(model, _triples(), 4, queries="all", batch_size=32)
    assert table.tails.keys.numel() == table.heads.keys.numel() == NUM_ENT * NUM_REL
    scorer = scorer_for(model)
    for mode in ("tail-batch", "head-batch"):
        q = table.sample_queries(50, mode, generator=torch.Generator().manual_seed(3))
        cand, missing = table.lookup(q, mode, mask_answer=False)
        assert not missing.any()  # every pair is in the table; no gold to leave out
        with torch.no_grad():
            full = scorer.score_tails(q[:, 0], q[:, 1]) if mode == "tail-batch" else scorer.score_heads(q[:, 1], q[:, 2])
        assert torch.allclose(full.gather(1, cand), full.topk(5, dim=1).values, atol=1e-5)


def test_candidate_cache_round_trip_and_signature(tmp_path):
    model, _ = _model()
    table = CandidateTable.from_model(model, _triples(), 4)
    path = tmp_path / "t.candidates"
    table.save(path, "sig-1")
    again = CandidateTable.load(path, "sig-1")
    assert again is not None and again.queries == "train"
    assert torch.equal(again.tails.candidates, table.tails.candidates) and torch.equal(again.heads.keys, table.heads.keys)
    assert CandidateTable.load(path, "sig-2") is None  # another teacher or k: rebuilt, never reused
    path.write_bytes(b"not a table")
    assert CandidateTable.load(path, "sig-1") is None
    with pytest.raises(ConfigError, match="--kd_queries"):
        CandidateTable.from_model(model, _triples(), 4, queries="test")


def test_transfer_term_adds_to_the_loss_and_leaves_the_teacher_alone():
    def lit(transfer: int) -> KGDistillLitModel:
        torch.manual_seed(0)
        args = parse_args(["--model_name", "ComplEx", "--loss_name", "DistilE_Loss", "--emb_dim", "4", "--lr", "0.05",
                           "--teacher_topk", "6", "--kd_weight", "0", "--kd_transfer_queries", str(transfer)])
        args = argparse.Namespace(**{**vars(args), "num_ent": NUM_ENT, "num_rel": NUM_REL})
        s_spec = ModelSpec("ComplEx", 4, NUM_ENT, NUM_REL, margin=6.0)
        t_spec = ModelSpec("ComplEx", 16, NUM_ENT, NUM_REL, margin=6.0)
        teacher = build_model(t_spec, args)
        models = StageModels(1, build_model(s_spec, args), teacher, s_spec, t_spec, loss_state={})
        table = CandidateTable.from_model(teacher, _triples(), 6, queries="all")
        return KGDistillLitModel(models.student, args, models, candidates=table)

    with_transfer, without = lit(32), lit(0)
    batch = _batch("tail-batch")
    torch.manual_seed(1)
    a = with_transfer.training_step(batch, 0).item()
    torch.manual_seed(1)
    b = without.training_step(batch, 0).item()
    assert a > b
    before = {k: v.clone() for k, v in with_transfer.teacher.state_dict().items()}
    optimizer = with_transfer.configure_optimizers()["optimizer"]
    for i in range(3):
        optimizer.zero_grad()
        with_transfer.training_step(_batch("head-batch" if i % 2 else "tail-batch"), i).backward()
        optimizer.step()
    assert all(torch.equal(v, before[k]) for k, v in with_transfer.teacher.state_dict().items())


def test_transfer_queries_need_a_table():
    from neuralkg_distil.run.checks import check_flags

    with pytest.raises(ConfigError, match="--kd_transfer_queries needs --teacher_topk"):
        check_flags(parse_args(["--model_name", "ComplEx", "--kd_transfer_queries", "10"]))
