"""NeuralKG KGE models: their adapters (one file per family), fast scorers and specs.

Importing this package registers every family's adapter once (see :mod:`neuralkg_distil.kge.adapter`).
Registration order is the order ``_guess_family`` names look-alike families in, so ComplEx comes
first: its error messages have always read "ComplEx, TransE or DistMult".
"""
from neuralkg_distil.kge import complex, transe, transh, rotate, distmult, simple, transr, roth  # noqa: F401  (register)
