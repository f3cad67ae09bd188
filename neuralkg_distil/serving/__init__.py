"""Using a trained model: ``neuralkg_distil.load`` and the ``export`` / ``predict`` / ``evaluate`` sub-commands.

* :mod:`.predictor`: :class:`KGEModelHandle`, predictions, ranks, scores and embeddings by name or id;
* :mod:`.dictionaries`: a dataset's ``entities.dict`` / ``relations.dict``;
* :mod:`.export`: export folders (tables, dictionaries, manifest), written and read back;
* :mod:`.loading`: :func:`load`, from a checkpoint (ours or NeuralKG's) or an export folder;
* :mod:`.cli`: the sub-commands.
"""
