"""A file-store abstraction with a local-disk default (DIGIT's filestore, kept small);
``core_api.files.s3`` keeps the same files on S3-compatible object storage.

Keys are opaque (``<prefix>/<yyyy>/<mm>/<uuid><ext>``); callers keep the key and the
content type. Size and type limits are checked before anything is written, and every
image is stored re-encoded without its metadata (``core_api.files.images``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core_api.errors import BadRequest, NotFound, PayloadTooLarge
from core_api.files.images import remove_metadata

IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
DOCUMENT_TYPES = {"application/pdf": ".pdf"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# The request body of a one-image upload: the image plus the multipart framing.
MAX_UPLOAD_BODY_BYTES = MAX_IMAGE_BYTES + 64 * 1024
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

# Leading bytes of each accepted type: a declared type must match the content.
_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}


@dataclass(frozen=True)
class StoredFile:
    key: str
    content_type: str
    size: int


class FileStore(Protocol):
    """Where stored files live: local disk (embedded) or S3-compatible object storage.

    ``get`` raises NotFound for a missing or malformed key; ``delete`` of a missing key is
    no error; ``aclose`` releases connections when the application stops.
    """

    async def put(self, data: bytes, content_type: str, prefix: str) -> StoredFile: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def aclose(self) -> None: ...


def check_upload(data: bytes, content_type: str, allowed: dict[str, str], max_bytes: int) -> str:
    """Validate type, size and content; return the file extension."""
    content_type = content_type.split(";")[0].strip().lower()
    if content_type not in allowed:
        raise BadRequest(
            f"Files of type {content_type or 'unknown'} are not accepted; "
            f"use {', '.join(sorted(allowed))}.", code="unsupported_file_type",
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The file is larger than {max_bytes // (1024 * 1024)} MB.",
                              code="file_too_large")
    if not data:
        raise BadRequest("The file is empty.", code="empty_file")
    if not any(data.startswith(magic) for magic in _MAGIC.get(content_type, (b"",))):
        raise BadRequest("The file content does not match its type.", code="file_type_mismatch")
    return allowed[content_type]


async def prepare_upload(data: bytes, content_type: str, prefix: str) -> tuple[StoredFile, bytes]:
    """Check an upload and choose its key: what every store does before writing a byte.

    Returns the file's description and the bytes to store (images re-encoded without
    metadata), so each store keeps the same keys, limits and privacy.
    """
    allowed = IMAGE_TYPES | DOCUMENT_TYPES
    content_type = content_type.split(";")[0].strip().lower()
    limit = MAX_DOCUMENT_BYTES if content_type in DOCUMENT_TYPES else MAX_IMAGE_BYTES
    extension = check_upload(data, content_type, allowed, limit)
    # No EXIF (GPS position, camera serial), XMP, ICC profile or text chunk is kept.
    data = await remove_metadata(data, content_type)
    now = datetime.now(UTC)
    key = f"{prefix}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}{extension}"
    return StoredFile(key=key, content_type=content_type, size=len(data)), data


class LocalFileStore:
    """Files under a directory on local disk (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or ".." in key.split("/"):
            raise NotFound("No such file.")
        return path

    async def put(self, data: bytes, content_type: str, prefix: str) -> StoredFile:
        stored, data = await prepare_upload(data, content_type, prefix)
        path = self._path(stored.key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: a reader never sees half a file

        await asyncio.to_thread(write)
        return stored

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound("No such file.") from exc

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def aclose(self) -> None:
        """Nothing to release: every call opens and closes its own file."""
