# Two commands do everything: `make demo` (the whole pipeline, offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: test demo clean install

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt pytest
	touch $@

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m segmenty.demo

clean:
	rm -rf background pattern training validation training.json validation.json wild snapshots scratch \
	       demo training.log save.keras root.keras animation_*.gif
