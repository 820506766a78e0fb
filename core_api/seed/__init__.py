"""The demo data of ``samvad seed --demo`` (``demo``, from the YAML files in ``data/``)."""
