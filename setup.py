"""neuralkg-distil: knowledge-graph embedding distillation as a NeuralKG plugin."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="neuralkg-distil",
    version="0.1.0",
    description="Distil large knowledge-graph embeddings into small ones (DistilE, DualDE) on NeuralKG",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["neuralkg_distil", "neuralkg_distil.*"]),
    package_data={"neuralkg_distil.cli": ["help.txt"], "neuralkg_distil.presets": ["recipes.yaml"]},
    python_requires=">=3.9",
    # neuralkg itself must be installed with --no-deps (see README); torch is the user's own.
    install_requires=["torch>=2.0"] + requirements,
    extras_require={"dev": ["pytest", "hypothesis"]},
    entry_points={"console_scripts": ["neuralkg-distil=neuralkg_distil.cli.main:main"]},
)
