"""The employee_tasks slice: flow.yaml, actions.py, transcripts/ (see flows/README.md)."""
