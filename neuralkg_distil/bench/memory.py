"""Training memory of our KGE models by entity count and dimension, measured on real models.

``python -m neuralkg_distil.bench memory`` builds each model with :func:`neuralkg_distil.kge.spec.build_model`
at two entity counts, runs one Adam step (so Adam's state exists) and sums the bytes of the
parameters, their gradients and Adam's state. Every table grows linearly with the entity count,
so the two measured sizes give bytes per entity exactly; larger graphs (rows marked "from the
measured bytes per entity") are that line, not a build, since a 100M-entity table does not fit here.
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Optional, Sequence

MODELS = ("TransE", "TransH", "RotatE", "ComplEx", "DistMult", "SimplE")
GiB = 1024 ** 3


def measure(model_name: str, dim: int, num_ent: int, num_rel: int) -> Dict[str, int]:
    """Bytes of parameters, gradients and Adam's state of one model after one training step."""
    import torch

    from neuralkg_distil.kge.spec import ModelSpec, build_model

    model = build_model(ModelSpec(model_name, dim, num_ent, num_rel))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    loss = sum(p.float().pow(2).sum() for p in trainable)  # touches every row: dense gradients, full Adam state
    loss.backward()
    optimizer.step()
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))
    return {"params": sum(p.numel() * p.element_size() for p in model.parameters()),
            "grads": sum(p.grad.numel() * p.grad.element_size() for p in trainable if p.grad is not None),
            "adam": state}


def per_entity(model_name: str, dim: int, num_rel: int, sizes: Sequence[int]) -> Dict[str, Dict[str, float]]:
    """Bytes per entity and fixed bytes of each part, from real builds at two entity counts."""
    small, large = (measure(model_name, dim, n, num_rel) for n in sizes)
    slope = {k: (large[k] - small[k]) / (sizes[1] - sizes[0]) for k in small}
    return {"per_entity": slope, "fixed": {k: small[k] - slope[k] * sizes[0] for k in small}}


def rows(models: Sequence[str], dims: Sequence[int], entities: Sequence[int], num_rel: int,
         sizes: Sequence[int]) -> List[Dict[str, object]]:
    out: List[Dict[str, object]] = []
    for model in models:
        for dim in dims:
            line = per_entity(model, dim, num_rel, sizes)
            for n in entities:
                part = {k: line["fixed"][k] + line["per_entity"][k] * n for k in line["fixed"]}
                out.append({"model": model, "dim": dim, "entities": n, "bytes/entity": line["per_entity"]["params"],
                            "params GiB": part["params"] / GiB, "+grads+Adam GiB": sum(part.values()) / GiB,
                            "measured": n in sizes})
    return out


def markdown(table: List[Dict[str, object]]) -> str:
    columns = ["model", "dim", "entities", "bytes/entity", "params GiB", "+grads+Adam GiB"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in table:
        cells = [str(row["model"]), str(row["dim"]), f"{row['entities']:,}" + ("" if row["measured"] else " *"),
                 f"{row['bytes/entity']:.0f}", f"{row['params GiB']:.3f}", f"{row['+grads+Adam GiB']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n\\* from the measured bytes per entity (linear in the entity count)\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuralkg_distil.bench memory", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--dims", default="64,256,500", help="comma-separated embedding dimensions")
    parser.add_argument("--entities", default="40943,1000000,10000000,100000000", help="entity counts of the table")
    parser.add_argument("--relations", type=int, default=237, help="relation count (FB15K237's; relations are few)")
    parser.add_argument("--measure_at", default="1000,40943", help="the two entity counts built and measured")
    args = parser.parse_args(list(argv) if argv is not None else None)
    sizes = [int(n) for n in args.measure_at.split(",")]
    table = rows(args.models.split(","), [int(d) for d in args.dims.split(",")],
                 [int(n) for n in args.entities.split(",")], args.relations, sizes)
    print(markdown(table), end="")
    return 0
