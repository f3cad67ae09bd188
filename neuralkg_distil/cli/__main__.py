"""``python -m neuralkg_distil.cli [FLAGS | SUB-COMMAND ...]``."""
import sys

from neuralkg_distil.cli.main import main

sys.exit(main())
