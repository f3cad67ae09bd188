# The two commands of the README: `make demo` (main job) and `make test`.
PY := .venv/bin/python
DATA ?= $(if $(NEURALKG_DISTIL_DATA),$(NEURALKG_DISTIL_DATA),../shared/datasets)

.PHONY: demo test setup

setup:
	bash scripts/setup_env.sh

demo:
	bash scripts/setup_env.sh
	$(PY) -m neuralkg_distil.cli demo

test:
	bash scripts/setup_env.sh --dev
	NEURALKG_DISTIL_DATA=$(DATA) $(PY) -m pytest -q -p no:cacheprovider tests
