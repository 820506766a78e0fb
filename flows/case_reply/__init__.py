"""The case_reply slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
