"""neuralkg-distil: knowledge-graph embedding distillation (DistilE, DualDE) as a NeuralKG plugin.

Importing this package registers its classes in NeuralKG's name spaces, so that
``--litmodel_name KGDistillLitModel`` and ``--loss_name DualDE_Loss`` resolve through NeuralKG's
own lookups. A missing or broken dgl is replaced by a stand-in first (see :mod:`.compat`).
"""
from neuralkg_distil.compat import ensure_optional_imports

ensure_optional_imports()

from neuralkg_distil.registration import register_all  # noqa: E402  (after the dgl stand-in)

register_all()

__version__ = "0.1.0"
