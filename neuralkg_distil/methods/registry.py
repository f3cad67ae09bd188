"""The registered distillation methods, by name and by the loss they train with."""
from __future__ import annotations

from typing import Dict, List, Optional

from neuralkg_distil.errors import ConfigError
from neuralkg_distil.methods.base import Arm, DistillationMethod

_METHODS: Dict[str, DistillationMethod] = {}


def register_method(method: DistillationMethod) -> DistillationMethod:
    """Add ``method`` under its name (idempotent for the same class); returns it."""
    if not method.name:
        raise ValueError(f"{type(method).__name__} has no name")
    existing = _METHODS.get(method.name)
    if existing is not None and type(existing) is not type(method):
        raise ValueError(f"a different method is already registered as {method.name!r}")
    _METHODS[method.name] = method
    return method


def registered_methods() -> List[DistillationMethod]:
    """Every registered method, in registration order."""
    return list(_METHODS.values())


def method_named(name: str) -> DistillationMethod:
    """The method called ``name``; a one-line error lists the registered ones."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown distillation method {name!r}; registered: {', '.join(_METHODS)}") from None


def method_for_loss(loss_class: type) -> Optional[DistillationMethod]:
    """The method whose loss is exactly ``loss_class``, or None."""
    return next((m for m in _METHODS.values() if m.loss_class is loss_class), None)


def grid_arms() -> Dict[str, Arm]:
    """The experiment-grid arms of every method (``DS``, ``-S1``, ``-S2``, ``IterDE``, ...)."""
    arms: Dict[str, Arm] = {}
    for method in _METHODS.values():
        for name, arm in method.arms.items():
            if arms.setdefault(name, arm) is not arm:
                raise ValueError(f"two methods define the grid arm {name!r}")
    return arms


def resolve_method(loss_name: Optional[str]) -> DistillationMethod:
    """The method a distillation run's ``--loss_name`` selects.

    A registered method's loss gives that method; any other distillation loss in NeuralKG's loss
    namespace runs in DistilE's two stages; a NeuralKG loss that is not a distillation loss falls
    back to DualDE (with a warning), as the reference code's flags expect.
    """
    import importlib

    from neuralkg_distil.errors import did_you_mean, warn
    from neuralkg_distil.methods.losses.base import DistillationLoss

    cls = getattr(importlib.import_module("neuralkg.loss"), loss_name, None) if loss_name else None
    if cls is None and loss_name:
        from neuralkg_distil.plugin.namespaces import available_names

        names = available_names("loss")
        raise ConfigError(f"unknown --loss_name {loss_name!r}; NeuralKG knows: {', '.join(names)}{did_you_mean(loss_name, names)}")
    if not (isinstance(cls, type) and issubclass(cls, DistillationLoss)):
        warn(f"--loss_name {loss_name} is not a distillation loss; using DualDE_Loss")
        return method_named("DualDE")
    return method_for_loss(cls) or _LossOnly(cls)


class _LossOnly(DistillationMethod):
    """A distillation loss no method declares (a user's own subclass): DistilE's two stages with it."""

    name = "custom"

    def __init__(self, loss_class: type) -> None:
        self.loss_class = loss_class
        self.name = f"custom ({loss_class.__name__})"


def unregister_method(name: str) -> None:
    """Remove a method (a test's own, once it is done with it)."""
    _METHODS.pop(name, None)
