"""Distillation methods (DistilE, DualDE, IterDE, ...), their losses and their parts.

Every module of this package is imported here, so a method registers itself by being a file
in this folder (see :mod:`neuralkg_distil.methods.base` for what a method declares).
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
