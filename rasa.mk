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
RASA_DIR := bot/rasa
RASA_MODELS := $(RASA_DIR)/models
# Quiet, offline, private: no TensorFlow chatter, no telemetry, no training cache in the tree.
RASA_ENV := TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false RASA_MAX_CACHE_SIZE=0 \
            RASA_CACHE_DIRECTORY=$(RASA_MODELS)/.cache

.PHONY: rasa rasa-serve

$(RASA_STAMP):
	@test -n "$(RASA_PYTHON)" || { echo "Rasa 3.6 needs Python 3.10: set RASA_PYTHON=/path/to/python3.10"; exit 1; }
	@$(RASA_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else "Rasa 3.6 needs Python 3.10 (found %s); set RASA_PYTHON" % sys.version.split()[0])'
	rm -rf $(RASA_VENV)
	$(RASA_PYTHON) -m venv $(RASA_VENV)
	$(RASA_BIN)/python -m pip install --quiet --upgrade pip
	$(RASA_BIN)/python -m pip install --quiet rasa==$(RASA_VERSION)
	$(RASA_ENV) $(RASA_BIN)/rasa telemetry disable > /dev/null 2>&1
	@touch $@

rasa: $(STAMP) $(RASA_STAMP) ## Rasa NLU: .venv-rasa and the model of bot/rasa (trained when changed)
	@model=$$($(BIN)/python -m bot.rasa_project) && name=$$(basename "$$model" .tar.gz) && \
	if [ -f "$$model" ]; then echo "Rasa NLU model up to date: $$model"; exit 0; fi && \
	mkdir -p $(RASA_MODELS) && work=$$(mktemp -d $(RASA_MODELS)/.training-XXXXXX) && \
	echo "Training the Rasa NLU model $$name (a few minutes; log: $(RASA_MODELS)/train.log)" && \
	start=$$(date +%s) && \
	if ! $(RASA_ENV) $(RASA_BIN)/rasa train nlu --config $(RASA_DIR)/config.yml \
	        --domain $(RASA_DIR)/domain.yml --nlu $(RASA_DIR)/data --out "$$work" \
	        --fixed-model-name "$$name" > $(RASA_MODELS)/train.log 2>&1; then \
	    rm -rf "$$work"; tail -n 40 $(RASA_MODELS)/train.log; exit 1; fi && \
	find $(RASA_MODELS) -maxdepth 1 -name 'samvad-nlu-*.tar.gz' -delete && \
	mv "$$work/$$name.tar.gz" "$$model" && rm -rf "$$work" $(RASA_MODELS)/.cache && \
	echo "Trained $$model in $$(( $$(date +%s) - start )) s ($$(du -h "$$model" | cut -f1))"

rasa-serve: rasa ## serve the Rasa NLU model on 127.0.0.1:5005 (same as `samvad nlu serve`)
	$(BIN)/samvad nlu serve
