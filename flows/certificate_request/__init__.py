"""The certificate_request slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
