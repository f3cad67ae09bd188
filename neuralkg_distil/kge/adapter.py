"""One adapter per KGE model family: everything this project needs to know about a NeuralKG model.

Adding a model (its fast path included) is one new file in ``neuralkg_distil/kge/`` plus one
import line in ``neuralkg_distil/kge/__init__.py``; :mod:`neuralkg_distil.kge.distmult` is the
complete example:

1. Write the fast scorer, a subclass of :class:`neuralkg_distil.kge.scoring._BaseScorer` (or of
   ``_BilinearScorer`` for sums of dot products), with ``score_tails`` / ``score_heads`` (all
   entities) and ``_train_scores`` (training batches). Leave it out (``scorer = None``) and the
   model is scored by NeuralKG's own ``get_score`` / ``forward``, which is exact but slow.
2. Subclass :class:`KgeAdapter`: ``name`` is the NeuralKG class name; ``tables`` maps each
   ``nn.Embedding`` the model owns to its columns per embedding dimension (ComplEx stores
   ``[re | im]``: 2); ``entity_tables`` are the tables whose rows make one entity's vector;
   ``unregularised`` the tables N3 leaves out; ``loss_family`` is ``"margin"`` for distance models
   trained with a margin ranking loss, else ``"ce"``; ``paper_negatives`` the negatives per
   triple the benchmarks use.
3. ``register_adapter(YourAdapter())`` at the bottom of the file, and import the file in
   ``kge/__init__.py`` (its position there is the order ``_guess_family`` lists look-alikes in).
4. Add ``class TestYourModel(KgeAdapterCase): adapter_name = "YourModel"`` to
   ``tests/test_kge_adapters.py``: the template checks the scorer against NeuralKG (values and
   gradients), the tables, the state-dict guess and the dimension round trip; a meta-test fails
   while a registered adapter has no such case.

Any other NeuralKG model gets :data:`GENERIC`: NeuralKG's slow path, ``ent_emb`` as entity vectors,
every ``nn.Embedding`` regularised, the cross-entropy family. This module imports no scorer (the
scorers' module asks this registry), so it stays free of import cycles.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

__all__ = [
    "MARGIN", "CROSS_ENTROPY", "LOSS_FAMILIES", "MARGIN_MINUS_SUM", "SUM", "KgeAdapter", "GenericAdapter", "GENERIC",
    "register_adapter", "adapter_for", "registered_adapters",
]

MARGIN = "margin"
CROSS_ENTROPY = "ce"
LOSS_FAMILIES = (MARGIN, CROSS_ENTROPY)
MARGIN_MINUS_SUM = "margin_minus_sum"  # gamma - sum_i d_i (TransE, TransH, TransR, RotatE)
SUM = "sum"  # sum_i s_i (ComplEx, DistMult, SimplE)

# A fast scorer class: called as ``scorer(model, chunk_size)``.
ScorerClass = Callable[[nn.Module, Optional[int]], Any]


class KgeAdapter:
    """What one NeuralKG model family needs here: its scorer, tables, loss family and defaults."""

    name: str = ""  # the NeuralKG class name
    scorer: Optional[ScorerClass] = None  # None: NeuralKG's get_score / forward (the slow path)
    tables: Mapping[str, int] = {}  # nn.Embedding name -> columns per embedding dimension ({}: undeclared)
    entity_tables: Tuple[str, ...] = ("ent_emb",)  # their rows, side by side, are one entity's vector
    unregularised: Tuple[str, ...] = ()  # declared tables N3 leaves out
    loss_family: str = CROSS_ENTROPY
    paper_negatives: Optional[int] = None  # negatives per triple in the papers' (and the benchmarks') setup
    # How the score grows with the dimension (``--soft_label_scale dim``): ``MARGIN_MINUS_SUM`` for
    # ``gamma - (a distance summed over coordinates)``, ``SUM`` for a sum of per-coordinate products
    # (bilinear models), None where neither holds (then the flag is refused).
    score_form: Optional[str] = None
    # Whether the score is a sum over coordinates of terms that each use only that coordinate's columns
    # of every table, so the model on a subset of coordinates is a model of this family
    # (``neuralkg-distil inherit``, :mod:`neuralkg_distil.kge.coordinates`).
    separable_coordinates: bool = False
    module_prefix: str = "neuralkg."  # where the class must be defined (a same-named class elsewhere is not it)
    # Methods whose NeuralKG definitions the fast scorer re-derives; a subclass overriding any of
    # them scores differently, so it is not this family any more.
    scoring_methods: Tuple[str, ...] = ("get_score", "score_func", "tri2emb", "get_emb", "_transfer")

    @property
    def entity_width(self) -> int:
        """Columns of the entity table per embedding dimension (2 for ``[re | im]`` tables)."""
        return self.tables.get(self.entity_tables[0], 1)

    def entity_vectors(self, model: nn.Module, idx: Tensor) -> Tensor:
        """The vector that represents each entity in ``idx`` (DualDE's structure term, serving)."""
        parts = [getattr(model, name)(idx) for name in self.entity_tables]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def regularised_tables(self, model: nn.Module) -> List[nn.Embedding]:
        """The tables N3 sums ``|x|^3`` over, in a fixed order (the sum's rounding depends on it)."""
        found = [getattr(model, name, None) for name in self.tables if name not in self.unregularised]
        return [table for table in found if isinstance(table, nn.Embedding)]

    def expected_width(self, table: str, dim: int) -> int:
        """Columns of ``table`` in a model of dimension ``dim``."""
        return self.tables[table] * dim

    def looks_like(self, state: Mapping[str, Tensor]) -> bool:
        """Whether ``state`` has exactly this family's tables, with widths of one dimension."""
        widths = _table_widths(state)
        if not self.tables or set(widths) != set(self.tables):
            return False
        columns = widths[self.entity_tables[0]]
        if columns % self.entity_width:
            return False
        dim = columns // self.entity_width
        return all(widths[name] == self.expected_width(name, dim) for name in self.tables)

    def matches_class(self, cls: type) -> bool:
        """Whether ``cls`` is this family's own class (not a subclass, not a namesake elsewhere)."""
        return cls.__name__ == self.name and cls.__module__.startswith(self.module_prefix)

    def base_class(self, cls: type) -> Optional[type]:
        """The class in ``cls``'s MRO that is this family's own class, if any."""
        return next((base for base in cls.__mro__ if self.matches_class(base)), None)

    def keeps_scoring(self, cls: type) -> bool:
        """Whether ``cls`` inherits this family's scoring methods unchanged."""
        base = self.base_class(cls)
        return base is not None and all(
            getattr(cls, name, None) is getattr(base, name, None) for name in self.scoring_methods
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class GenericAdapter(KgeAdapter):
    """Any NeuralKG model without its own adapter: slow path, ``ent_emb``, every table regularised."""

    name = "(generic)"

    def regularised_tables(self, model: nn.Module) -> List[nn.Embedding]:
        """Every ``nn.Embedding`` of the model, in module order."""
        return [m for m in model.modules() if isinstance(m, nn.Embedding)]

    def looks_like(self, state: Mapping[str, Tensor]) -> bool:
        """Any state with an entity table could come from some NeuralKG model."""
        return self.entity_tables[0] in _table_widths(state)


GENERIC = GenericAdapter()
_REGISTRY: Dict[str, KgeAdapter] = {}


def _table_widths(state: Mapping[str, Tensor]) -> Dict[str, int]:
    """Columns of every 2-D ``<name>.weight`` tensor in a state dict, by ``<name>``."""
    return {
        key[: -len(".weight")]: int(value.shape[1])
        for key, value in state.items()
        if key.endswith(".weight") and isinstance(value, Tensor) and value.dim() == 2
    }


def register_adapter(adapter: KgeAdapter, replace: bool = False) -> KgeAdapter:
    """Register ``adapter`` under its ``name``; a different adapter of that name needs ``replace``."""
    if not adapter.name or adapter.name == GENERIC.name:
        raise ValueError(f"an adapter needs the NeuralKG class name it describes, got {adapter.name!r}")
    if adapter.loss_family not in LOSS_FAMILIES:
        raise ValueError(f"{adapter.name}: loss_family must be one of {LOSS_FAMILIES}, got {adapter.loss_family!r}")
    known = _REGISTRY.get(adapter.name)
    if known is not None and known is not adapter and not replace:
        raise ValueError(f"an adapter for {adapter.name} is already registered ({known!r}); pass replace=True")
    _REGISTRY[adapter.name] = adapter
    return adapter


def registered_adapters() -> Tuple[KgeAdapter, ...]:
    """Every registered adapter, in registration order (:data:`GENERIC` is not among them)."""
    return tuple(_REGISTRY.values())


def adapter_for(model_or_name: Union[nn.Module, type, str]) -> KgeAdapter:
    """The adapter of a model, a model class or a model class name; :data:`GENERIC` if none fits.

    A name must be a registered one exactly. A model (or class) gets the adapter of the first
    registered NeuralKG class in its MRO, provided it keeps that class's scoring methods; a
    subclass that overrides one scores differently and so gets :data:`GENERIC`.
    """
    if isinstance(model_or_name, str):
        return _REGISTRY.get(model_or_name, GENERIC)
    cls = model_or_name if isinstance(model_or_name, type) else type(model_or_name)
    for base in cls.__mro__:
        adapter = _REGISTRY.get(base.__name__)
        if adapter is not None and adapter.matches_class(base):
            return adapter if adapter.keeps_scoring(cls) else GENERIC
    return GENERIC
