"""NeuralKG-style entry point: ``python main.py --litmodel_name KGDistillLitModel ...``."""
import sys

from neuralkg_distil.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
