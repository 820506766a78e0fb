"""Downloading the photos citizens and employees send, from the providers' media hosts only.

A photo arrives as a link the provider gives (Twilio: ``https://api.twilio.com/...``, which
answers with HTTP basic auth and redirects to its CDN; the simulator: our own signed
``/files/`` links) or as a provider's reference ``<provider>-media:<id>`` (Meta:
``meta-media:<id>``). The bot itself knows no provider: the composition root
(``samvad.media.media_policy``) builds the ``MediaPolicy`` from what each provider in
``channels/`` declares — its media hosts, the origin its basic auth goes to, the
``MediaSource`` that resolves its references. A link is attacker-controlled text in a
webhook, so the fetcher refuses anything else — internal addresses (127.0.0.1,
169.254.169.254, 10.x, localhost), ``file:`` and other schemes, credentials in the link —
and follows a redirect only to an allowed host, at most three times. Credentials go only
to the origin they belong to (Twilio's to its API host; Meta's token only to the Graph API
and its download links on allowed hosts). A photo is a JPEG, PNG or WebP of at most 5 MB;
the declared size and the bytes read are both checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # what the core API accepts
PHOTO_TIMEOUT = httpx.Timeout(8.0, connect=3.0)
MAX_REDIRECTS = 3
# A provider's reference to media it stores: ``meta-media:1479537139650973``.
MEDIA_REFERENCE = re.compile(r"[a-z][a-z0-9]*-media:[A-Za-z0-9]{1,128}")


class MediaError(Exception):
    """A photo the citizen sent could not be fetched (or is not a photo we can keep)."""


def is_media_link(value: str) -> bool:
    """True for what a channel puts in ``Media.url`` for a photo: an http(s) link or a
    provider's reference ``<provider>-media:<id>``. Whether it may be fetched is decided by
    ``fetch_media`` and the policy."""
    return value.startswith(("https://", "http://")) or bool(MEDIA_REFERENCE.fullmatch(value))


class MediaSource(Protocol):
    """A provider that names the media it stores by reference (Meta: ``meta-media:<id>``).

    ``fetch`` returns the bytes and the content type the provider declares, or raises
    ``MediaError``; it reads at most ``max_bytes`` and sends its credentials only to links
    ``allowed`` accepts."""

    def handles(self, url: str) -> bool: ...

    async def fetch(self, url: str, http: httpx.AsyncClient, *, max_bytes: int,
                    allowed: Callable[[str], bool]) -> tuple[bytes, str]: ...


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a link, lower case: what ``basic_auth`` is keyed by."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class MediaPolicy:
    """Where photos may come from, and the credentials each provider's host needs."""

    hosts: frozenset[str] = frozenset()  # "host" or "host:port"
    own_origin: str | None = None  # scheme://host[:port] whose /files/ links are ours
    # origin -> (user, password): sent to that origin only (Twilio's API host)
    basic_auth: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    sources: tuple[MediaSource, ...] = ()  # providers' references, e.g. meta-media:<id>
    transport: httpx.AsyncBaseTransport | None = None  # tests: a local fake provider

    def allows(self, url: str) -> bool:
        """True for an http(s) link without credentials on an allowed host."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        if parts.username is not None or parts.password is not None:
            return False
        if self.own_origin and origin(url) == self.own_origin:
            return parts.path.startswith("/files/") and ".." not in parts.path
        host = parts.hostname.lower()
        return host in self.hosts or (port is not None and f"{host}:{port}" in self.hosts)


def _check_photo(content_type: str, size: int | None) -> str:
    content_type = content_type.split(";")[0].strip().lower()
    if content_type not in PHOTO_TYPES:
        raise MediaError(f"not a photo: {content_type or 'no type'}")
    if size is not None and size > MAX_PHOTO_BYTES:
        raise MediaError("too large")
    return content_type


async def _fetch_reference(url: str, source: MediaSource,
                           policy: MediaPolicy) -> tuple[bytes, str]:
    async with httpx.AsyncClient(timeout=PHOTO_TIMEOUT, follow_redirects=False,
                                 transport=policy.transport) as http:
        data, content_type = await source.fetch(url, http, max_bytes=MAX_PHOTO_BYTES,
                                                allowed=policy.allows)
    if len(data) > MAX_PHOTO_BYTES:
        raise MediaError("too large")
    return data, _check_photo(content_type, len(data))


async def fetch_media(url: str, policy: MediaPolicy | None = None) -> tuple[bytes, str]:
    """Download one photo from an allowed media host: ``(bytes, content type)``.

    Raises ``MediaError`` (or an ``httpx.HTTPError``) otherwise; without a policy nothing
    is allowed."""
    policy = policy or MediaPolicy()
    source = next((s for s in policy.sources if s.handles(url)), None)
    if source is not None:
        return await _fetch_reference(url, source, policy)
    if not policy.allows(url):
        raise MediaError("not a link to an allowed media host")
    async with httpx.AsyncClient(timeout=PHOTO_TIMEOUT, follow_redirects=False,
                                 transport=policy.transport) as http:
        for _hop in range(MAX_REDIRECTS + 1):
            auth = policy.basic_auth.get(origin(url))
            async with http.stream("GET", url, auth=auth) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if not policy.allows(target):
                        raise MediaError("redirected to a host that is not allowed")
                    url = target
                    continue
                if response.status_code != 200:
                    raise MediaError(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                content_type = _check_photo(response.headers.get("content-type", ""),
                                            int(declared) if declared.isdigit() else None)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_PHOTO_BYTES:
                        raise MediaError("too large")
                return bytes(data), content_type
    raise MediaError("too many redirects")
