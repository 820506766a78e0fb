"""Stored files on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...).

Every web and worker pod then reads the same files without a ReadWriteMany volume.
Objects stay private (no ACL is set, so the bucket's default: owner only); people
still get files through Samvad's own signed links (``core_api.files.signing``), so
who may read a file does not change with the store.

This module imports boto3: import it only when a bucket is configured. boto3 calls
block, so they run in a thread, as the local store's disk writes do; its clients are
thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core_api.errors import NotFound
from core_api.files.store import StoredFile, prepare_upload

# A missing object: GetObject says NoSuchKey; some S3-compatible servers answer a bare 404.
_MISSING = {"NoSuchKey", "404", "NotFound"}
# At DEBUG boto3 logs every request: headers with session tokens, parameters with the file.
_QUIET = ("boto3", "botocore", "s3transfer")


def s3_client(*, endpoint_url: str | None, region: str | None,
              access_key_id: str | None, secret_access_key: str | None) -> Any:
    """A boto3 S3 client with bounded timeouts and retries.

    Without keys boto3's own chain applies (environment, web identity / IRSA, instance
    role). A custom endpoint gets path-style addressing: MinIO and Ceph answer
    ``http://host:9000/bucket/key`` out of the box, while ``bucket.host`` needs DNS.
    """
    for name in _QUIET:  # even when SAMVAD_LOG_LEVEL=DEBUG
        logging.getLogger(name).setLevel(logging.WARNING)
    config = Config(
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4},
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None, config=config,
    )


class S3FileStore:
    """Files as objects ``<prefix><key>`` in one bucket; same keys and checks as on disk."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _object_key(self, key: str) -> str:
        """The object's name; NotFound for a key no ``put`` could have made."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise NotFound("No such file.")
        return self.prefix + key

    async def put(self, data: bytes, content_type: str, prefix: str) -> StoredFile:
        stored, data = await prepare_upload(data, content_type, prefix)
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=self._object_key(stored.key),
            Body=data, ContentType=stored.content_type,
        )
        return stored

    async def get(self, key: str) -> bytes:
        object_key = self._object_key(key)

        def read() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            with response["Body"] as body:
                return body.read()

        try:
            return await asyncio.to_thread(read)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound("No such file.") from exc
            raise

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there: deleting twice is no error, as on disk.
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket,
                                Key=self._object_key(key))

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self.client.close)
