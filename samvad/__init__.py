"""Samvad composition root: settings, application assembly, CLI and worker entry points."""
