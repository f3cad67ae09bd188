"""Dispatch ``python -m neuralkg_distil.bench {speed,inference,epoch,memory,mulde} [flags]``."""
import sys

from neuralkg_distil.bench.epoch import main as epoch_main
from neuralkg_distil.bench.inference import main as inference_main
from neuralkg_distil.bench.memory import main as memory_main
from neuralkg_distil.bench.mulde import main as mulde_main
from neuralkg_distil.bench.speed import main as speed_main

COMMANDS = {"speed": speed_main, "inference": inference_main, "epoch": epoch_main, "memory": memory_main, "mulde": mulde_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m neuralkg_distil.bench {{{','.join(COMMANDS)}}} [--help]", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
