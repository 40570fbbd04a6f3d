# Two commands do everything: `make demo` (the whole pipeline, offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: test demo clean install

install: $(VENV)/.installed

# The requirements, then segmenty itself, editable (pyproject.toml): the `segmenty` command in
# $(VENV)/bin runs this working tree, like the top-level scripts. setuptools warns that the folder
# segmenty/ may shadow the installed package; here it is the installed package.
$(VENV)/.installed: requirements.txt requirements-onnx.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-onnx.txt pytest
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --no-deps --editable .
	touch $@

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m segmenty.demo

clean:
	rm -rf background pattern training validation training.json validation.json wild snapshots scratch \
	       demo training.log save.keras root.keras animation_*.gif
