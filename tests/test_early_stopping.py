"""--early_stop_after_decay: early stopping that waits for a scheduled decay and restarts after one."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional

import torch

from neuralkg_distil.callbacks.early_stopping import DecayAwareEarlyStopping
from neuralkg_distil.cli.main import main

from conftest import cli_flags


class FakeTrainer(SimpleNamespace):
    """What EarlyStopping reads of a Trainer: metrics, epoch, optimizer, schedule, strategy."""

    def __init__(self, milestone: Optional[int]):
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=1.0)
        configs = []
        if milestone is not None:
            configs = [SimpleNamespace(scheduler=torch.optim.lr_scheduler.MultiStepLR(optimizer, [milestone], 0.1))]
        strategy = SimpleNamespace(reduce_boolean_decision=lambda decision, all=False: decision)
        super().__init__(optimizers=[optimizer], lr_scheduler_configs=configs, current_epoch=0, should_stop=False,
                         callback_metrics={}, fast_dev_run=False, strategy=strategy)


def stop_epoch(callback: DecayAwareEarlyStopping, trainer: FakeTrainer, curve: List[float], every: int = 2) -> Optional[int]:
    """Run the epochs, validating every ``every`` epochs on ``curve``; the epoch early stopping fired at."""
    scheduler = trainer.lr_scheduler_configs[0].scheduler if trainer.lr_scheduler_configs else None
    for epoch in range(len(curve) * every):
        trainer.current_epoch = epoch
        if epoch % every == every - 1:
            trainer.callback_metrics = {"Eval|mrr": torch.tensor(curve[epoch // every])}
            callback._run_early_stopping_check(trainer)
            if trainer.should_stop:
                return epoch
        if scheduler is not None:
            trainer.optimizers[0].step()
            scheduler.step()
    return None


def _callback(after_decay: bool) -> DecayAwareEarlyStopping:
    return DecayAwareEarlyStopping(monitor="Eval|mrr", mode="max", patience=2, after_decay=after_decay)


def test_without_the_flag_it_is_lightning_s_early_stopping():
    curve = [0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    assert stop_epoch(_callback(False), FakeTrainer(milestone=12), curve) == 7  # 2 validations without progress


def test_it_holds_the_stop_until_the_decay_then_gives_the_new_rate_the_whole_patience():
    curve = [0.1, 0.2] + [0.2] * 20
    # decay at epoch 12: held through the plateau, the rate falls, then 2 more validations (epochs 13, 15)
    assert stop_epoch(_callback(True), FakeTrainer(milestone=12), curve) == 15


def test_a_gain_after_the_decay_keeps_it_training():
    curve = [0.1, 0.2] + [0.2] * 5 + [0.3, 0.35, 0.35, 0.35, 0.35, 0.35]
    assert stop_epoch(_callback(True), FakeTrainer(milestone=12), curve) == 21


def test_with_no_decay_ahead_it_stops_as_before_and_restarts_after_a_plateau_decay():
    curve = [0.1, 0.2, 0.2, 0.2, 0.2, 0.2]
    assert stop_epoch(_callback(True), FakeTrainer(milestone=None), curve) == 7
    callback, trainer = _callback(True), FakeTrainer(milestone=None)
    trainer.callback_metrics = {"Eval|mrr": torch.tensor(0.5)}
    callback._run_early_stopping_check(trainer)
    callback._run_early_stopping_check(trainer)
    assert callback.wait_count == 1
    trainer.optimizers[0].param_groups[0]["lr"] = 0.1  # a plateau decay between two validations
    callback._run_early_stopping_check(trainer)
    assert callback.wait_count == 1 and not trainer.should_stop  # reset to 0, then this stalled check


def test_its_state_survives_a_resume():
    callback = _callback(True)
    callback.last_lr, callback.wait_count = 0.01, 3
    restored = _callback(True)
    restored.load_state_dict(callback.state_dict())
    assert (restored.last_lr, restored.wait_count) == (0.01, 3)


def _epochs(run: Path) -> int:
    return int(json.loads((run / "pretrain" / "results.json").read_text())["epochs"])


def test_a_real_run_trains_past_the_halfway_decay_only_with_the_flag(small_graph: Path, tmp_path: Path):
    flags = cli_flags(small_graph, tmp_path, "--model_name", "ComplEx", "--litmodel_name", "PretrainLitModel",
                      "--loss_name", "Adv_Loss", "--emb_dim", "8", "--lr", "0.2", "--max_epochs", "40",
                      "--lr_decay", "halfway", "--check_per_epoch", "1", "--early_stop_patience", "1")
    assert main(flags + ["--run_dir", str(tmp_path / "plain")]) == 0
    assert main(flags + ["--run_dir", str(tmp_path / "held"), "--early_stop_after_decay"]) == 0
    plain, held = _epochs(tmp_path / "plain"), _epochs(tmp_path / "held")
    assert plain < 20, plain  # stopped on its plateau before the decay at epoch 20
    assert 20 < held <= 40, held  # trained past the decay
