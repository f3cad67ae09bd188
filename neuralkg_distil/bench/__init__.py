"""Benchmarks: ``python -m neuralkg_distil.bench speed`` and ``python -m neuralkg_distil.bench inference`` and ``python -m neuralkg_distil.bench epoch``."""
