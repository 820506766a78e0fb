"""A real S3 API for the object-store tests: moto's server on 127.0.0.1, one per run.

Every test gets a bucket of its own. Clients always carry keys and a region, and the
EC2 metadata lookup is off, so boto3 never looks beyond the loopback server.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

REGION = "ap-south-1"
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server in a thread of this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 must never ask the EC2 metadata address for credentials or a region."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def s3_env(s3_endpoint: str) -> dict[str, str]:
    """The settings that point Samvad at the test server (the bucket comes per test)."""
    return {"SAMVAD_S3_ENDPOINT_URL": s3_endpoint, "SAMVAD_S3_REGION": REGION,
            "SAMVAD_S3_ACCESS_KEY_ID": "samvad-test-access-key",
            "SAMVAD_S3_SECRET_ACCESS_KEY": "samvad-test-secret-access-key-0123456789"}


def _client(env: dict[str, str]) -> Any:
    from core_api.files.s3 import s3_client

    return s3_client(endpoint_url=env["SAMVAD_S3_ENDPOINT_URL"], region=env["SAMVAD_S3_REGION"],
                     access_key_id=env["SAMVAD_S3_ACCESS_KEY_ID"],
                     secret_access_key=env["SAMVAD_S3_SECRET_ACCESS_KEY"])


@pytest.fixture(scope="session")
def s3_admin(s3_env: dict[str, str]) -> Iterator[Any]:
    """A client that looks at buckets from outside the store (list, ACLs, heads)."""
    client = _client(s3_env)
    yield client
    client.close()


@pytest.fixture
def s3_bucket(s3_admin: Any) -> str:
    """A fresh, empty bucket for this test, created as an operator would (no public ACL)."""
    name = f"samvad-test-{next(_buckets)}"
    s3_admin.create_bucket(Bucket=name,
                           CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def bucket_keys(s3_admin: Any, s3_bucket: str) -> Callable[[], list[str]]:
    """Every object's name in this test's bucket, as the bucket holds it now."""

    def keys() -> list[str]:
        listing = s3_admin.list_objects_v2(Bucket=s3_bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return keys


@pytest.fixture
async def make_s3_store(s3_env: dict[str, str]) -> AsyncIterator[Callable[..., Any]]:
    """Builds S3FileStores on the test server; closes them after the test."""
    from core_api.files.s3 import S3FileStore

    opened: list[S3FileStore] = []

    def make(bucket: str, prefix: str = "") -> S3FileStore:
        opened.append(S3FileStore(_client(s3_env), bucket, prefix))
        return opened[-1]

    yield make
    for store in opened:
        await store.aclose()
