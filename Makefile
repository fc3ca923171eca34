# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both run the set-up first when .venv/ is missing or the package metadata changed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmdet_covid-installed

.PHONY: setup browser test demo clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml tools/setup_env.sh
	VENV=$(VENV) bash tools/setup_env.sh
	touch $@

# the report viewer's tests drive a real browser: Debian's chromium, installed as root
browser:
	bash tools/install_browser.sh

test: $(STAMP) browser
	$(PY) -m pytest tests

demo: $(STAMP)
	$(PY) tools/demo.py

clean:
	rm -rf work_dirs data/phantom .pytest_cache
