"""Complaints (DIGIT's PGR): complaint types, filing, inbox, actions, photos.

Importing the package registers the PGR workflow hook (``service.on_pgr_move``), so any
process that loads the models keeps complaint rows in step with their workflow.
"""

from core_api.complaints import service as _service  # noqa: F401  (registers the hook)
