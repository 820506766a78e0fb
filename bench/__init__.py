"""Samvad's benchmarks: end-to-end chat turns against the framework ceiling and a Rasa peer.

``samvad bench`` (``bench.run.main``) starts real processes on 127.0.0.1 and writes
``bench/results/`` (report.md, figures.json, load.png) and the figures section of
BENCHMARKS.md. See BENCHMARKS.md for how to read the figures.
"""
