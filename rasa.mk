# Rasa NLU (SPEC §1, §7): a separate Python 3.10 environment (.venv-rasa) with Rasa 3.6, and
# an NLU model trained from bot/rasa/ into bot/rasa/models/. The model is named after a
# hash of the project files (bot/rasa_project.py), so `make rasa` trains only when they
# changed. `samvad nlu serve` (or `make rasa-serve`) runs it on 127.0.0.1:5005.
RASA_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.10.*/bin/python3.10) \
                           $(shell command -v python3.10))
RASA_VERSION := 3.6.21
RASA_VENV := .venv-rasa
RASA_BIN := $(RASA_VENV)/bin
RASA_STAMP := $(RASA_VENV)/.installed-$(RASA_VERSION)
# Quiet, offline, private: no TensorFlow chatter, no telemetry.
RASA_ENV := TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false

.PHONY: rasa rasa-serve

$(RASA_STAMP): requirements/rasa.txt | $(STAMP)
	@test -n "$(RASA_PYTHON)" || { echo "Rasa 3.6 needs Python 3.10: set RASA_PYTHON=/path/to/python3.10"; exit 1; }
	@$(RASA_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else "Rasa 3.6 needs Python 3.10 (found %s); set RASA_PYTHON" % sys.version.split()[0])'
	@echo "==> Installing Rasa $(RASA_VERSION) into $(RASA_VENV) from requirements/rasa.txt (locked; TensorFlow is ~0.5 GB, about a minute)"
	@start=$$(date +%s); rm -rf $(RASA_VENV) && $(RASA_PYTHON) -m venv --without-pip $(RASA_VENV) && \
	$(UV) pip sync --quiet --python $(RASA_BIN)/python --require-hashes requirements/rasa.txt && \
	{ $(RASA_ENV) $(RASA_BIN)/rasa telemetry disable > /dev/null 2>&1; true; } && \
	echo "    Rasa installed in $$(( $$(date +%s) - start )) s"
	@touch $@

rasa: $(STAMP) $(RASA_STAMP) ## Rasa NLU: .venv-rasa and the model of bot/rasa (trained when changed)
	@$(BIN)/samvad nlu train

rasa-serve: rasa ## serve the Rasa NLU model on 127.0.0.1:5005 (same as `samvad nlu serve`)
	$(BIN)/samvad nlu serve
