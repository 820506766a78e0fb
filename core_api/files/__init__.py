"""Stored files (photos, receipts, certificates) and signed download links."""

from core_api.files.signing import signed_url, verify_signature
from core_api.files.store import FileStore, LocalFileStore, StoredFile

__all__ = ["FileStore", "LocalFileStore", "StoredFile", "signed_url", "verify_signature"]
