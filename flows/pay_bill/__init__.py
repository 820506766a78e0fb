"""The pay_bill slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
