"""Evaluation over the whole split in every process of a multi-process (DDP) run.

Lightning gives each process a shard of every dataloader, padded with repeats so the shards are
equal; filtered ranks computed per shard would then be metrics of half a split (or of a split with
repeated triples). Ranking is cheap next to training, so every process ranks the whole split in
order, with the same (synchronised) weights: the metrics are those of a one-process run with the
same weights, identical on every rank, so early stopping and checkpointing agree across ranks
without a gather. A :class:`DistributedSampler` over one replica is kept by Lightning as it is.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

from torch.utils.data import DataLoader, DistributedSampler


def whole_split_sampler(dataset: Any) -> DistributedSampler:
    """Every index in order, in every process (Lightning keeps a DistributedSampler it is given)."""
    return DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=False)


def whole_split_loader(loader: DataLoader) -> DataLoader:
    """The same loader (dataset, batch size, collation, workers) over the whole split."""
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=whole_split_sampler(loader.dataset),
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)


def multi_process(args: argparse.Namespace) -> bool:
    """Whether the flags ask Lightning for more than one process (``--devices 2``, ``--num_nodes 2``)."""
    devices = getattr(args, "devices", None) or 1
    many = str(devices) in ("-1", "auto") or (str(devices).isdigit() and int(devices) > 1) or "," in str(devices)
    return many or (getattr(args, "num_nodes", 1) or 1) > 1


def evaluate_whole_splits(datamodule: Any) -> Any:
    """Make a data module's validation and test loaders whole-split ones (on the instance, since the
    data module is NeuralKG's class, chosen by ``--data_class``)."""
    def wrapped(make: Callable[[], DataLoader]) -> Callable[[], DataLoader]:
        return lambda: whole_split_loader(make())

    datamodule.val_dataloader = wrapped(datamodule.val_dataloader)
    datamodule.test_dataloader = wrapped(datamodule.test_dataloader)
    return datamodule
