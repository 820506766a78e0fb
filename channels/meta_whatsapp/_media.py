"""Media a citizen sent: a webhook names it by id; the bytes are fetched when needed.

An inbound image arrives as ``Media("meta-media:<id>", mime_type)``. ``fetch_media``
resolves the id (``GET {base}/{version}/{id}`` with the bearer token answers a
short-lived download URL) and downloads it with the same token, refusing files larger
than ``max_bytes``. Meta keeps inbound media for a limited time (about 30 days), and
the download URL expires within minutes, so resolve and download in one go.

``MetaMediaSource`` plugs this into the bot's photo fetcher (``bot.media.MediaPolicy``
``sources``, wired in ``samvad.media``): a photo a citizen sends on the Cloud API is
fetched and attached to the complaint like a Twilio photo. The download links point at
``MEDIA_HOSTS`` (and the Graph API's own host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.media import MediaError
from channels.meta_whatsapp._envelope import MEDIA_URL_PREFIX

API_VERSION = "v21.0"
MAX_MEDIA_BYTES = 16 * 1024 * 1024  # WhatsApp's video limit; images are at most 5 MB
MEDIA_HOSTS = ("lookaside.fbsbx.com",)  # where the Graph API's download links point


class MediaUnavailable(Exception):
    """The media could not be fetched; ``retryable`` when trying again later may work."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    content_type: str
    media_id: str


def media_id_from_url(url: str) -> str | None:
    """The Meta media id of a ``meta-media:<id>`` url; None for any other url."""
    if not url.startswith(MEDIA_URL_PREFIX):
        return None
    media_id = url[len(MEDIA_URL_PREFIX):]
    return media_id if media_id.isascii() and media_id.isalnum() else None


def _declared_size(info: dict[str, Any]) -> int | None:
    """The lookup's ``file_size`` (Meta sends it as a string of digits, sometimes a number)."""
    size = info.get("file_size")
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    return int(size) if isinstance(size, str) and size.isdigit() else None


def _refusal(response: httpx.Response, what: str) -> MediaUnavailable:
    retryable = response.status_code == 429 or response.status_code >= 500
    return MediaUnavailable(f"{what} answered HTTP {response.status_code}", retryable=retryable)


async def fetch_media(
    media_id: str,
    *,
    http: httpx.AsyncClient,
    api_base: str,
    access_token: str,
    api_version: str = API_VERSION,
    max_bytes: int = MAX_MEDIA_BYTES,
    allowed: Callable[[str], bool] | None = None,
) -> FetchedMedia:
    """Download the media ``media_id`` names; raises ``MediaUnavailable``.

    ``allowed`` vets the download url the lookup answers (the token is sent there)."""
    if not media_id.isascii() or not media_id.isalnum():
        raise MediaUnavailable(f"not a media id: {media_id!r}", retryable=False)
    auth = {"Authorization": f"Bearer {access_token}"}
    try:
        answer = await http.get(f"{api_base.rstrip('/')}/{api_version}/{media_id}",
                                headers=auth)
        if answer.status_code != 200:
            raise _refusal(answer, "media lookup")
        info = answer.json()
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaUnavailable("media lookup gave no download url", retryable=False)
        if allowed is not None and not allowed(url):
            raise MediaUnavailable("media download url is not on an allowed host",
                                   retryable=False)
        size = _declared_size(info)
        if size is not None and size > max_bytes:  # refused before anything is downloaded
            raise MediaUnavailable("media larger than allowed", retryable=False)
        async with http.stream("GET", url, headers=auth) as download:
            if download.status_code != 200:
                raise _refusal(download, "media download")
            declared = download.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MediaUnavailable("media larger than allowed", retryable=False)
            chunks: list[bytes] = []
            size = 0
            async for chunk in download.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaUnavailable("media larger than allowed", retryable=False)
                chunks.append(chunk)
            # The lookup's mime_type is what the sender's phone declared; trust it first.
            content_type = str(info.get("mime_type") or download.headers.get("content-type")
                               or "application/octet-stream")
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"media fetch failed: {type(exc).__name__}",
                               retryable=True) from exc
    except ValueError as exc:  # the lookup answered something that is not JSON
        raise MediaUnavailable("media lookup answered no JSON", retryable=False) from exc
    return FetchedMedia(b"".join(chunks), content_type.split(";")[0].strip(), media_id)


class MetaMediaFetcher:
    """``fetch_media`` bound to the ``WHATSAPP_*`` settings and one HTTP client."""

    def __init__(self, http: httpx.AsyncClient, *, api_base: str, access_token: str | None,
                 api_version: str = API_VERSION, max_bytes: int = MAX_MEDIA_BYTES,
                 allowed: Callable[[str], bool] | None = None) -> None:
        self.http = http
        self.allowed = allowed
        self.api_base = api_base
        self.access_token = access_token
        self.api_version = api_version
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient) -> MetaMediaFetcher:
        return cls(http, api_base=settings.whatsapp_api_base,
                   access_token=settings.whatsapp_access_token)

    def handles(self, url: str) -> bool:
        """True for the ``meta-media:<id>`` urls inbound Meta messages carry."""
        return media_id_from_url(url) is not None

    async def fetch(self, url: str) -> FetchedMedia:
        """The bytes behind a ``meta-media:<id>`` url; raises ``MediaUnavailable``."""
        media_id = media_id_from_url(url)
        if media_id is None:
            raise MediaUnavailable(f"not a Meta media url: {url!r}", retryable=False)
        if not self.access_token:
            raise MediaUnavailable("WHATSAPP_ACCESS_TOKEN is not set", retryable=False)
        return await fetch_media(media_id, http=self.http, api_base=self.api_base,
                                 access_token=self.access_token,
                                 api_version=self.api_version, max_bytes=self.max_bytes,
                                 allowed=self.allowed)


@dataclass(frozen=True)
class MetaMediaSource:
    """Resolves ``meta-media:<id>`` photos for the bot (a ``bot.media.MediaSource``): the
    Graph API lookup and the download with the bearer token, failures as ``MediaError``."""

    api_base: str
    access_token: str | None
    api_version: str = API_VERSION

    @classmethod
    def from_settings(cls, settings: Any) -> MetaMediaSource:
        return cls(api_base=settings.whatsapp_api_base,
                   access_token=settings.whatsapp_access_token)

    def handles(self, url: str) -> bool:
        return media_id_from_url(url) is not None

    async def fetch(self, url: str, http: httpx.AsyncClient, *, max_bytes: int,
                    allowed: Callable[[str], bool]) -> tuple[bytes, str]:
        fetcher = MetaMediaFetcher(http, api_base=self.api_base, access_token=self.access_token,
                                   api_version=self.api_version, max_bytes=max_bytes,
                                   allowed=allowed)
        try:
            media = await fetcher.fetch(url)
        except MediaUnavailable as exc:
            raise MediaError(str(exc)) from exc
        return media.content, media.content_type
