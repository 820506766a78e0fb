"""The receipts slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
