"""One FileStore contract, two stores: local disk (embedded) and S3-compatible storage.

The same behaviour tests run on LocalFileStore and on S3FileStore against a real S3 API
(moto's server on 127.0.0.1): keys, checks before anything is written, metadata removed,
NotFound for a missing key, delete. Then what only the bucket shows: private objects,
their content type and the configured prefix.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from core_api.errors import BadRequest, NotFound, PayloadTooLarge
from core_api.files.store import MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES, FileStore, LocalFileStore
from samvad.app import build_file_store
from samvad.settings import ConfigurationError, Settings

GPS_IFD, BODY_SERIAL_NUMBER, EXIF_IFD = 0x8825, 0xA431, 0x8769
SERIAL = "CAM-SERIAL-4711-0815"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
KEY = re.compile(r"^(?P<prefix>[a-z/]+)/(?P<y>\d{4})/(?P<m>\d{2})/[0-9a-f]{32}(?P<ext>\.\w+)$")


def _photo_with_gps() -> bytes:
    """A phone photo: EXIF with the camera's serial number and a GPS position."""
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[BODY_SERIAL_NUMBER] = SERIAL
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 22.0, 41.16), 3: "E", 4: (78.0, 5.0, 2.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (40, 24), (200, 40, 40)).save(buffer, format="JPEG", exif=exif)
    assert SERIAL.encode() in buffer.getvalue()
    return buffer.getvalue()


@dataclass
class Backend:
    """A store under test and a look at what it holds, from outside the store."""

    store: FileStore
    stored: Callable[[], list[str]]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "s3":
        make_s3_store = request.getfixturevalue("make_s3_store")
        return Backend(make_s3_store(request.getfixturevalue("s3_bucket")),
                       request.getfixturevalue("bucket_keys"))
    root = tmp_path / "files"
    return Backend(LocalFileStore(root), lambda: sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))


async def test_a_photo_is_stored_without_metadata_under_a_dated_key(backend):
    stored = await backend.store.put(_photo_with_gps(), "Image/JPEG; charset=binary",
                                     prefix="complaints")
    now = datetime.now(UTC)
    match = KEY.match(stored.key)
    assert match, stored.key
    assert (match["prefix"], match["y"], match["m"], match["ext"]) == (
        "complaints", f"{now:%Y}", f"{now:%m}", ".jpg")
    assert stored.content_type == "image/jpeg"
    assert backend.stored() == [stored.key]

    data = await backend.store.get(stored.key)
    assert len(data) == stored.size
    assert SERIAL.encode() not in data
    image = Image.open(io.BytesIO(data))
    assert image.size == (40, 24) and not image.getexif()


async def test_a_pdf_comes_back_byte_for_byte(backend):
    stored = await backend.store.put(PDF, "application/pdf", prefix="certificates")
    assert stored.key.startswith("certificates/") and stored.key.endswith(".pdf")
    assert (stored.content_type, stored.size) == ("application/pdf", len(PDF))
    assert await backend.store.get(stored.key) == PDF


@pytest.mark.parametrize(("data", "content_type", "error", "code"), [
    (PDF, "text/html", BadRequest, "unsupported_file_type"),
    (b"", "image/png", BadRequest, "empty_file"),
    (PDF, "image/png", BadRequest, "file_type_mismatch"),
    (b"\xff\xd8\xff" + b"\0" * MAX_IMAGE_BYTES, "image/jpeg", PayloadTooLarge, "file_too_large"),
    (b"%PDF-" + b"\0" * MAX_DOCUMENT_BYTES, "application/pdf", PayloadTooLarge,
     "file_too_large"),
])
async def test_refused_files_are_never_written(backend, data, content_type, error, code):
    with pytest.raises(error) as refused:
        await backend.store.put(data, content_type, prefix="complaints")
    assert refused.value.code == code
    assert backend.stored() == []


@pytest.mark.parametrize("key", [
    "complaints/2026/01/0123456789abcdef0123456789abcdef.png",  # well-formed, never stored
    "../outside.png", "complaints/../../outside.png", "/etc/passwd",
])
async def test_a_missing_or_malformed_key_is_not_found(backend, key):
    await backend.store.put(PDF, "application/pdf", prefix="certificates")
    with pytest.raises(NotFound):
        await backend.store.get(key)


async def test_delete_removes_the_file_and_may_repeat(backend):
    kept = await backend.store.put(PDF, "application/pdf", prefix="receipts")
    gone = await backend.store.put(PDF, "application/pdf", prefix="receipts")
    await backend.store.delete(gone.key)
    with pytest.raises(NotFound):
        await backend.store.get(gone.key)
    await backend.store.delete(gone.key)  # already gone: no error, as an erasure may retry
    assert backend.stored() == [kept.key]
    assert await backend.store.get(kept.key) == PDF


async def test_bucket_objects_are_private_typed_and_prefixed(make_s3_store, s3_admin,
                                                             s3_bucket, bucket_keys):
    store = make_s3_store(s3_bucket, prefix="/uk-dehradun/")
    stored = await store.put(_photo_with_gps(), "image/jpeg", prefix="complaints")
    name = f"uk-dehradun/{stored.key}"
    assert bucket_keys() == [name]
    head = s3_admin.head_object(Bucket=s3_bucket, Key=name)
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == stored.size
    grants = s3_admin.get_object_acl(Bucket=s3_bucket, Key=name)["Grants"]
    # Only the owner: no AllUsers or AuthenticatedUsers grant, so only Samvad reads it.
    assert [(g["Grantee"]["Type"], g["Permission"]) for g in grants] == [
        ("CanonicalUser", "FULL_CONTROL")]
    assert len(await store.get(stored.key)) == stored.size


async def test_a_missing_bucket_is_an_error_not_a_missing_file(make_s3_store):
    """A wrong bucket name is a misconfiguration: it must not pass for a 404 file."""
    store = make_s3_store("samvad-no-such-bucket")
    with pytest.raises(ClientError) as failed:
        await store.get("complaints/2026/01/0123456789abcdef0123456789abcdef.png")
    assert failed.value.response["Error"]["Code"] == "NoSuchBucket"


async def test_settings_choose_the_store_and_keep_the_secret_out_of_sight(tmp_path, s3_env):
    local = build_file_store(Settings(SAMVAD_DATA_DIR=tmp_path))
    assert isinstance(local, LocalFileStore) and local.root == (tmp_path / "files").resolve()

    settings = Settings(SAMVAD_DATA_DIR=tmp_path, SAMVAD_S3_BUCKET="samvad-files",
                        SAMVAD_S3_PREFIX="prod", **s3_env)
    secret = s3_env["SAMVAD_S3_SECRET_ACCESS_KEY"]
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
    store = build_file_store(settings)
    try:
        assert type(store).__name__ == "S3FileStore"
        assert (store.bucket, store.prefix) == ("samvad-files", "prod/")
        assert store.client.meta.region_name == s3_env["SAMVAD_S3_REGION"]
        assert store.client.meta.endpoint_url == s3_env["SAMVAD_S3_ENDPOINT_URL"]
    finally:
        await store.aclose()

    for half in ({"SAMVAD_S3_ACCESS_KEY_ID": "half-a-pair"},
                 {"SAMVAD_S3_ACCESS_KEY_ID": "", "SAMVAD_S3_SECRET_ACCESS_KEY": "half-a-pair"}):
        with pytest.raises(ConfigurationError, match="SAMVAD_S3_SECRET_ACCESS_KEY"):
            Settings(SAMVAD_DATA_DIR=tmp_path, SAMVAD_S3_BUCKET="samvad-files", **half)


async def test_debug_logging_shows_no_request_of_the_store(make_s3_store, s3_bucket, s3_env,
                                                          caplog):
    """boto3 at DEBUG would log request headers (session tokens) and the file's bytes."""
    caplog.set_level(logging.DEBUG)
    store = make_s3_store(s3_bucket)
    stored = await store.put(PDF, "application/pdf", prefix="receipts")
    assert await store.get(stored.key) == PDF
    assert [r for r in caplog.records if r.name.split(".")[0] in ("boto3", "botocore")] == []
    assert s3_env["SAMVAD_S3_SECRET_ACCESS_KEY"] not in caplog.text
    assert "%PDF" not in caplog.text


def test_empty_settings_mean_unset_as_manifests_list_them(tmp_path):
    """A ConfigMap or Secret lists every key, empty when not used: disk, or boto3's chain."""
    empty = {"SAMVAD_S3_ENDPOINT_URL": "", "SAMVAD_S3_REGION": "", "SAMVAD_S3_PREFIX": "",
             "SAMVAD_S3_ACCESS_KEY_ID": "", "SAMVAD_S3_SECRET_ACCESS_KEY": ""}
    assert isinstance(build_file_store(Settings(
        SAMVAD_DATA_DIR=tmp_path, SAMVAD_S3_BUCKET="", **empty)), LocalFileStore)
    settings = Settings(SAMVAD_DATA_DIR=tmp_path, SAMVAD_S3_BUCKET="samvad-files", **empty)
    assert settings.s3_bucket == "samvad-files"  # accepted: no half key pair


def test_boto3_is_imported_only_when_a_bucket_is_configured():
    """The app and the CLI start without paying for boto3's import in embedded mode."""
    probe = ("import sys, samvad.app, core_api.files; "
             "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"
