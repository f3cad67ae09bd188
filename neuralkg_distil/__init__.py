"""neuralkg-distil: knowledge-graph embedding distillation (DistilE, DualDE) as a NeuralKG plugin.

Importing this package registers its classes in NeuralKG's name spaces, so that
``--litmodel_name KGDistillLitModel`` and ``--loss_name DualDE_Loss`` resolve through NeuralKG's
own lookups. A missing or broken dgl is replaced by a stand-in first (see :mod:`.compat`).

Registration is lazy so that ``neuralkg-distil --help`` and ``fetch-data`` do not pay for torch,
Lightning and NeuralKG: when ``neuralkg`` is already imported it happens now; otherwise an
import hook runs it as soon as ``neuralkg`` is imported (the dgl stand-in goes in first), which is
before any of NeuralKG's name spaces can be looked into. :func:`register` forces it.
"""
from neuralkg_distil.plugin.hook import install as _install, register  # noqa: F401

_install()

__version__ = "0.1.0"


def load(path, data_path=None, **kwargs):
    """Rebuild a trained model from a checkpoint or an export folder: see :func:`neuralkg_distil.serving.loading.load`.

    ``neuralkg_distil.load(ckpt).predict_tails("head name", "relation name", k=10)``; ``role="teacher"``
    for a distillation checkpoint's teacher, ``model_name=`` for a NeuralKG checkpoint.
    """
    from neuralkg_distil.serving.loading import load as _load

    return _load(path, data_path, **kwargs)
