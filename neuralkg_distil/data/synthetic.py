"""A small synthetic knowledge graph with structure a KGE model can learn.

The graph is meant for fast tests and smoke runs of distillation: a wide teacher should
clearly beat a narrow student on it, and it trains in seconds on a CPU.

How it is built (all from one ``random.Random(seed)``, so a seed gives identical files):

* every entity belongs to one latent cluster (about 20 entities each) and has a second
  latent attribute that splits its cluster into small groups;
* relations cycle through these kinds (names say which, e.g. ``r06_compose``):

  - ``map``: a function; x goes to one entity of cluster ``perm_r(cluster(x))``. The
    cluster is low-rank structure; *which* entity is identity-level detail that needs
    embedding capacity to memorise;
  - ``inverse``: the inverse of the previous ``map`` (tail and head swapped);
  - ``compose``: ``x -> f_b(f_a(x))`` for the two previous ``map`` functions;
  - ``symmetric``: a random pairing inside each cluster, stored in both directions;
  - ``cluster``: many-to-many, x is linked to the members of cluster
    ``perm_r(cluster(x))`` whose attribute is ``attr_perm_r(attr(x))``;

* about 1% of the triples are pure noise (random head, relation, tail).

Held-out triples are mostly predictable: their inverse, symmetric twin or compositional
path usually lies in ``train.txt``.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

Triple = tuple[int, int, int]

# The order in which relation kinds are handed out; it repeats for more relations.
_KIND_CYCLE = ("map", "inverse", "symmetric", "cluster", "map", "inverse", "compose", "cluster")

# Entities per latent cluster; small enough that a cluster-only guess gives a low MRR.
_CLUSTER_SIZE = 20


def _relation_kinds(num_relations: int) -> list[str]:
    """Kinds for each relation; a kind whose prerequisites are missing falls back to map."""
    kinds: list[str] = []
    for i in range(num_relations):
        kind = _KIND_CYCLE[i % len(_KIND_CYCLE)]
        maps_so_far = kinds.count("map")
        if kind == "inverse" and maps_so_far < 1:
            kind = "map"
        if kind == "compose" and maps_so_far < 2:
            kind = "map"
        kinds.append(kind)
    return kinds


def _split_counts(total: int, valid_frac: float, test_frac: float) -> tuple[int, int]:
    return int(round(total * valid_frac)), int(round(total * test_frac))


@dataclass(frozen=True)
class _Latent:
    """The hidden structure of the graph: clusters and, inside each, attribute groups."""

    members: list[list[int]]  # entities of each cluster
    cluster_of: list[int]
    attr_of: list[int]
    num_attrs: int

    @property
    def num_entities(self) -> int:
        return len(self.cluster_of)


def _clusters(rng: random.Random, num_entities: int) -> tuple[list[list[int]], list[int]]:
    """Entities dealt into clusters of about ``_CLUSTER_SIZE`` at random: members and cluster of each."""
    num_clusters = max(1, num_entities // _CLUSTER_SIZE)
    order = list(range(num_entities))
    rng.shuffle(order)
    members: list[list[int]] = [order[c::num_clusters] for c in range(num_clusters)]
    cluster_of = [0] * num_entities
    for c, group in enumerate(members):
        for e in group:
            cluster_of[e] = c
    return members, cluster_of


def _fan_out(num_entities: int, kinds: Sequence[str], structured: int) -> int:
    """Links per entity of each cluster relation, so that the structured triples reach ``structured``.

    The fan-out of the many-to-many relations fills what the functional ones leave of the budget.
    """
    n_cluster_rels = kinds.count("cluster")
    fixed = num_entities * (len(kinds) - n_cluster_rels)
    if not n_cluster_rels:
        return 1
    return max(1, math.ceil((structured - fixed) / (n_cluster_rels * num_entities)))


def _latent(rng: random.Random, num_entities: int, fan_out: int) -> _Latent:
    """Clusters, then attributes that split each cluster into groups of about ``fan_out`` members.

    A cluster relation links x to the group attr_perm(attr(x)) of cluster perm(cluster(x)),
    a rule that needs more than a cluster guess yet generalises from the other edges.
    """
    members, cluster_of = _clusters(rng, num_entities)
    num_attrs = max(1, min(len(g) for g in members) // fan_out)
    attr_of = [0] * num_entities
    for group in members:
        for i, e in enumerate(group):
            attr_of[e] = i % num_attrs
    return _Latent(members, cluster_of, attr_of, num_attrs)


def _shuffled(rng: random.Random, n: int) -> list[int]:
    """A random permutation of ``0..n-1``."""
    perm = list(range(n))
    rng.shuffle(perm)
    return perm


def _symmetric_triples(rng: random.Random, latent: _Latent, r: int) -> list[Triple]:
    """A random pairing inside each cluster, in both directions."""
    triples: list[Triple] = []
    for group in latent.members:
        shuffled = list(group)
        rng.shuffle(shuffled)
        for a, b in zip(shuffled[0::2], shuffled[1::2]):
            triples += [(a, r, b), (b, r, a)]
    return triples


def _cluster_triples(rng: random.Random, latent: _Latent, r: int) -> list[Triple]:
    """x linked to the members of cluster perm(cluster(x)) whose attribute is attr_perm(attr(x))."""
    perm = _shuffled(rng, len(latent.members))
    attr_perm = _shuffled(rng, latent.num_attrs)
    triples: list[Triple] = []
    for x in range(latent.num_entities):
        want = attr_perm[latent.attr_of[x]]
        triples += [(x, r, y) for y in latent.members[perm[latent.cluster_of[x]]] if latent.attr_of[y] == want]
    return triples


def _relation_triples(rng: random.Random, latent: _Latent, r: int, kind: str, maps: list[list[int]]) -> list[Triple]:
    """The triples of relation ``r`` of one kind (a map's function is appended to ``maps``)."""
    entities = range(latent.num_entities)
    if kind == "map":
        perm = _shuffled(rng, len(latent.members))
        f = [rng.choice(latent.members[perm[latent.cluster_of[x]]]) for x in entities]
        maps.append(f)
        return [(x, r, f[x]) for x in entities]
    if kind == "inverse":
        f = maps[-1]
        return [(f[x], r, x) for x in entities]
    if kind == "compose":
        f_a, f_b = maps[-2], maps[-1]
        return [(x, r, f_b[f_a[x]]) for x in entities]
    if kind == "symmetric":
        return _symmetric_triples(rng, latent, r)
    return _cluster_triples(rng, latent, r)


def _with_noise(rng: random.Random, kept: dict[Triple, None], n_noise: int, num_entities: int,
                num_relations: int, target: int) -> list[Triple]:
    """``kept`` plus ``n_noise`` uniformly random new triples, shuffled.

    A collision with a kept triple is retried, at most ``100 * target`` draws in all.
    """
    attempts = 0
    while n_noise > 0 and attempts < 100 * target:
        attempts += 1
        t = (rng.randrange(num_entities), rng.randrange(num_relations), rng.randrange(num_entities))
        if t not in kept:
            kept[t] = None
            n_noise -= 1
    result = list(kept)
    rng.shuffle(result)
    return result


def _build_pool(
    rng: random.Random, num_entities: int, kinds: Sequence[str], target: int, noise_frac: float
) -> list[Triple]:
    """All candidate triples, deduplicated, in a deterministic order."""
    # The whole structured pool is cut down to its budget at random.
    structured = target - int(round(target * noise_frac))
    latent = _latent(rng, num_entities, _fan_out(num_entities, kinds, structured))
    maps: list[list[int]] = []  # the functions of the map relations made so far
    pool: dict[Triple, None] = {}  # a dict keeps insertion order and drops duplicates
    for r, kind in enumerate(kinds):
        for t in _relation_triples(rng, latent, r, kind, maps):
            pool[t] = None
    triples_list = list(pool)
    rng.shuffle(triples_list)
    kept = dict.fromkeys(triples_list[:structured])
    # A fixed share, so a graph too small for the target gets fewer triples, not more noise.
    return _with_noise(rng, kept, target - structured, num_entities, len(kinds), target)


def _split(
    triples: list[Triple], valid_frac: float, test_frac: float
) -> tuple[list[Triple], list[Triple], list[Triple]]:
    """Split shuffled triples; an eval triple with an entity or relation unseen in train moves to train."""
    n_valid, n_test = _split_counts(len(triples), valid_frac, test_frac)
    test = triples[:n_test]
    valid = triples[n_test:n_test + n_valid]
    train = triples[n_test + n_valid:]
    seen_ent = {e for h, _, t in train for e in (h, t)}
    seen_rel = {r for _, r, _ in train}

    def keep(split: list[Triple]) -> list[Triple]:
        kept = []
        for h, r, t in split:
            if h in seen_ent and t in seen_ent and r in seen_rel:
                kept.append((h, r, t))
            else:
                train.append((h, r, t))
                seen_ent.update((h, t))
                seen_rel.add(r)
        return kept

    test = keep(test)
    valid = keep(valid)
    return train, valid, test


def generate_graph(
    out_dir: str | Path,
    num_entities: int = 300,
    num_relations: int = 8,
    num_triples: Optional[int] = None,
    seed: int = 0,
    valid_frac: float = 0.1,
    test_frac: float = 0.1,
    noise_frac: float = 0.01,
) -> Path:
    """Write a synthetic graph in NeuralKG's layout into ``out_dir`` and return its path.

    ``num_triples`` (all splits together) defaults to ``2 * num_entities * num_relations``
    (4,800 for the defaults, about 3,850 of them in train). It is a target: a graph too
    small to hold that many distinct triples gets fewer. The same arguments always give
    byte-identical files.
    """
    if num_entities < 4:
        raise ValueError(f"num_entities must be at least 4, got {num_entities}")
    if num_relations < 1:
        raise ValueError(f"num_relations must be at least 1, got {num_relations}")
    if not (0 <= valid_frac < 1 and 0 <= test_frac < 1 and valid_frac + test_frac < 0.9):
        raise ValueError(f"bad split fractions valid={valid_frac} test={test_frac}")
    if not 0 <= noise_frac < 0.5:
        raise ValueError(f"noise_frac must be in [0, 0.5), got {noise_frac}")
    if num_triples is None:
        num_triples = 2 * num_entities * num_relations
    if num_triples < 1:
        raise ValueError(f"num_triples must be positive, got {num_triples}")

    rng = random.Random(seed)
    kinds = _relation_kinds(num_relations)
    triples = _build_pool(rng, num_entities, kinds, num_triples, noise_frac)
    train, valid, test = _split(triples, valid_frac, test_frac)

    width = len(str(num_entities - 1))
    ent_name = [f"e{i:0{width}d}" for i in range(num_entities)]
    rel_name = [f"r{i:02d}_{kind}" for i, kind in enumerate(kinds)]
    # The dicts list exactly what the triples use (all of it is in train by construction).
    used_ent = sorted({e for h, _, t in train for e in (h, t)})
    used_rel = sorted({r for _, r, _ in train})

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, lines: list[str]) -> None:
        # newline="\n" keeps the bytes the same on every platform.
        with open(out / name, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(line + "\n" for line in lines)

    write("entities.dict", [f"{i}\t{ent_name[e]}" for i, e in enumerate(used_ent)])
    write("relations.dict", [f"{i}\t{rel_name[r]}" for i, r in enumerate(used_rel)])
    for name, split in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        write(name, [f"{ent_name[h]}\t{rel_name[r]}\t{ent_name[t]}" for h, r, t in split])
    return out


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI: write a synthetic graph and print its counts."""
    parser = argparse.ArgumentParser(
        prog="python -m neuralkg_distil.data.synthetic",
        description="Write a small synthetic knowledge graph in NeuralKG's dataset layout.",
    )
    parser.add_argument("out_dir", help="folder to write (created if missing)")
    parser.add_argument("--entities", type=int, default=300, help="number of entities (default 300)")
    parser.add_argument("--relations", type=int, default=8, help="number of relations (default 8)")
    parser.add_argument("--triples", type=int, default=None,
                        help="triples over all splits (default 2 * entities * relations)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        out = generate_graph(args.out_dir, num_entities=args.entities, num_relations=args.relations,
                             num_triples=args.triples, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = {name: _count_lines(out / name) for name in
              ("entities.dict", "relations.dict", "train.txt", "valid.txt", "test.txt")}
    print(f"{out}: entities={counts['entities.dict']} relations={counts['relations.dict']} "
          f"train={counts['train.txt']} valid={counts['valid.txt']} test={counts['test.txt']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
