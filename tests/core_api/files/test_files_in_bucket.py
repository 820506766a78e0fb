"""The application on S3-compatible storage: a complaint photo uploaded through the API and
an issued certificate PDF are objects in the bucket (nothing under the data directory), and
each comes back through Samvad's own signed link, as with files on disk."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from samvad.settings import Settings
from tests.core_api.registrations import recent_birth

SUNITA = "+919876500001"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}


@pytest.fixture
def backend() -> str:
    """Where files live is the subject here, not the database: one backend is enough."""
    return "sqlite"


@pytest.fixture
def settings(db_url: str, redis_url: str, tmp_path: Path, s3_env: dict[str, str],
             s3_bucket: str) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url, SAMVAD_REDIS_URL=redis_url, SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_S3_BUCKET=s3_bucket, SAMVAD_S3_PREFIX="samvad", **s3_env,
    )


def _path(url: str) -> str:
    """The path and query of an absolute link (the test client serves every host)."""
    return re.sub(r"^https?://[^/]+", "", url)


def _object(s3_admin: Any, bucket: str, key: str) -> dict[str, Any]:
    found = s3_admin.get_object(Bucket=bucket, Key=f"samvad/{key}")
    return {"type": found["ContentType"], "data": found["Body"].read()}


async def test_a_complaint_photo_lives_in_the_bucket_and_is_served_by_signed_link(
        client, auth, settings, s3_admin, s3_bucket, bucket_keys):
    citizen = auth.service(SUNITA)
    filed = await client.post("/api/v1/complaints", headers=citizen, json={
        "type_code": "StreetLightNotWorking", "description": "Pole 14 is dark", **RAJPUR_PIN})
    assert filed.status_code == 201, filed.text
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 160, 40)).save(buffer, format="PNG")
    upload = await client.post(f"/api/v1/complaints/{filed.json()['id']}/photos",
                               headers=citizen, files={"file": ("pole.png", buffer.getvalue(),
                                                                "image/png")})
    assert upload.status_code == 201, upload.text
    photo = upload.json()

    assert bucket_keys() == [f"samvad/{photo['key']}"]
    assert not (settings.data_dir / "files").exists()  # nothing on the pod's own disk
    stored = _object(s3_admin, s3_bucket, photo["key"])
    assert stored["type"] == "image/png"

    download = await client.get(_path(photo["url"]))
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.content == stored["data"]
    assert Image.open(io.BytesIO(download.content)).size == (12, 8)
    forged = await client.get(f"/files/{photo['key']}", params={"exp": 9999999999, "sig": "x"})
    assert forged.status_code == 403


async def test_an_issued_certificate_pdf_lives_in_the_bucket(client, auth, session, s3_admin,
                                                              s3_bucket, bucket_keys):
    number = await recent_birth(session, "B-DDN-2026-S3001")
    created = await client.post("/api/v1/certificate-requests", headers=auth.service(SUNITA),
                                json={"registration_number": number,
                                      "relation": "parent"})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    approved = await client.post(f"/api/v1/certificate-requests/{number}/actions",
                                 headers=await auth.staff("registrar.dehradun"),
                                 json={"action": "APPROVE"})
    assert approved.status_code == 200, approved.text
    issued = approved.json()

    keys = bucket_keys()
    certificate = r"samvad/certificates/uk\.dehradun/\d{4}/\d{2}/[0-9a-f]{32}\.pdf"
    assert len(keys) == 1 and re.fullmatch(certificate, keys[0]), keys
    key = keys[0].removeprefix("samvad/")
    assert issued["download_url"].startswith(f"http://127.0.0.1:8000/files/{key}?")
    stored = _object(s3_admin, s3_bucket, key)
    assert stored["type"] == "application/pdf"

    pdf = await client.get(_path(issued["download_url"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == stored["data"]
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert issued["certificate_number"] in text and "Ishaan Rawat" in text
