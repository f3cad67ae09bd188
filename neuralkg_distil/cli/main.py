"""Command line: ``neuralkg-distil [FLAGS]`` trains, ``neuralkg-distil SUB-COMMAND ...`` runs a sub-command.

``neuralkg-distil [FLAGS]`` (and ``python main.py [FLAGS]``) trains one model: with NeuralKG's
``KGELitModel`` or ``PretrainLitModel`` it pretrains (a teacher, or a directly trained student);
with ``KGDistillLitModel`` it runs distillation stage 1 or 2 (:func:`neuralkg_distil.run.builder.train`).
Each sub-command (``demo``, ``experiment``, ``sweep``, ``iterate``, ``inherit``, ``fetch-data``, ``generate-graph``,
``export``, ``predict``, ``evaluate``, ``flags``) has a parser of its own. This module parses, dispatches and
prints one line for bad input; it builds nothing itself.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

from neuralkg_distil.errors import DistilError

# sub-command -> (module with a main(argv) entry, whether main takes the sub-command's name too)
SUBCOMMANDS: Dict[str, Tuple[str, bool]] = {
    "demo": ("neuralkg_distil.run.demo", False),
    "experiment": ("neuralkg_distil.experiment.runner", False),
    "sweep": ("neuralkg_distil.sweep.cli", False),
    "iterate": ("neuralkg_distil.run.chain", False),
    "inherit": ("neuralkg_distil.run.inherit", False),
    "fetch-data": ("neuralkg_distil.data.fetch", False),
    "generate-graph": ("neuralkg_distil.data.synthetic", False),
    "export": ("neuralkg_distil.serving.cli", True),
    "predict": ("neuralkg_distil.serving.cli", True),
    "evaluate": ("neuralkg_distil.serving.cli", True),
    "flags": ("neuralkg_distil.cli.flag_docs", False),
}


def _subcommand(argv: Sequence[str]) -> Optional[Callable[[], int]]:
    """The call that runs ``argv``'s sub-command, or None when ``argv`` is a training."""
    if not argv or argv[0] not in SUBCOMMANDS:
        return None
    module, with_name = SUBCOMMANDS[argv[0]]
    entry = importlib.import_module(module).main
    rest = list(argv) if with_name else list(argv[1:])
    return lambda: entry(rest)


def _train(argv: Sequence[str]) -> int:
    import neuralkg_distil
    from neuralkg_distil.cli.parser import parse_args
    from neuralkg_distil.run.builder import train
    from neuralkg_distil.run.runtime import keep_freed_memory

    from neuralkg_distil.run.runtime import is_rank_zero

    neuralkg_distil.register()  # our classes in NeuralKG's name spaces before the flags are resolved
    keep_freed_memory()
    if not is_rank_zero():  # a DDP worker started by Lightning: rank 0 prints the run's lines (errors stay on stderr)
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    train(parse_args(argv))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``neuralkg-distil`` and ``main.py``; exit code 2 with one line on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from neuralkg_distil.cli.output import configure_output

    configure_output(argv)  # before torch / Lightning are imported: their import-time warnings too
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv in (["-h"], ["--help"]):
        from neuralkg_distil.cli.help_cache import cached_help

        text = cached_help()  # the same text without importing torch, Lightning and NeuralKG
        if text is not None:
            sys.stdout.write(text)
            return 0
    try:
        command = _subcommand(argv)
        return command() if command is not None else _train(argv)
    except DistilError as exc:
        print(f"neuralkg-distil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuralkg-distil: interrupted; checkpoints written so far are kept (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
