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


def load(path, data_path=None, **kwargs):
    """Rebuild a trained model from a checkpoint or an export folder: see :func:`neuralkg_distil.serving.load`.

    ``neuralkg_distil.load(ckpt).predict_tails("head name", "relation name", k=10)``; ``role="teacher"``
    for a distillation checkpoint's teacher, ``model_name=`` for a NeuralKG checkpoint.
    """
    from neuralkg_distil.serving import load as _load

    return _load(path, data_path, **kwargs)
