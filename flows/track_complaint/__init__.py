"""The track_complaint slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
