"""fetch_media: resolve a media id through the Graph API, then download it with the token."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.media import MediaError
from channels.meta_whatsapp import (
    FetchedMedia,
    MediaUnavailable,
    MetaMediaFetcher,
    MetaMediaSource,
    fetch_media,
    media_id_from_url,
)

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
LOOKUP = json.loads((TESTDATA / "media_lookup.json").read_text())
MEDIA_ID = LOOKUP["id"]
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2044


def graph(lookup: httpx.Response, download: httpx.Response, seen: list[httpx.Request],
          ) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "graph.fake":
            return lookup
        return download
    return httpx.MockTransport(handle)


async def fetch(lookup: httpx.Response, download: httpx.Response, seen: list[httpx.Request],
                max_bytes: int = 1024 * 1024) -> FetchedMedia:
    async with httpx.AsyncClient(transport=graph(lookup, download, seen)) as http:
        return await fetch_media(MEDIA_ID, http=http, api_base="https://graph.fake",
                                 access_token="EAAG-token", max_bytes=max_bytes)


async def test_resolves_the_id_then_downloads_with_the_bearer_token() -> None:
    seen: list[httpx.Request] = []
    media = await fetch(httpx.Response(200, json=LOOKUP),
                        httpx.Response(200, content=JPEG,
                                       headers={"content-type": "image/jpeg"}), seen)
    assert media == FetchedMedia(JPEG, "image/jpeg", MEDIA_ID)
    assert [str(r.url) for r in seen] == [f"https://graph.fake/v21.0/{MEDIA_ID}", LOOKUP["url"]]
    assert all(r.headers["authorization"] == "Bearer EAAG-token" for r in seen)


FAILURES = [
    ("expired id", httpx.Response(404, json={"error": {"code": 100}}),
     httpx.Response(200, content=JPEG), False),
    ("graph down", httpx.Response(503), httpx.Response(200, content=JPEG), True),
    ("lookup without url", httpx.Response(200, json={"id": MEDIA_ID}),
     httpx.Response(200, content=JPEG), False),
    ("download url expired", httpx.Response(200, json=LOOKUP), httpx.Response(404), False),
    ("too large", httpx.Response(200, json=LOOKUP), httpx.Response(200, content=JPEG * 600),
     False),
]


@pytest.mark.parametrize(("case", "lookup", "download", "retryable"), FAILURES,
                         ids=[c[0] for c in FAILURES])
async def test_failures_say_whether_trying_later_can_help(
    case: str, lookup: httpx.Response, download: httpx.Response, retryable: bool
) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        await fetch(lookup, download, [])
    assert caught.value.retryable is retryable


def test_only_meta_media_urls_name_a_media_id() -> None:
    assert media_id_from_url("meta-media:1479537139650973") == "1479537139650973"
    assert media_id_from_url("https://example.org/photo.jpg") is None
    assert media_id_from_url("meta-media:../../v21.0/me") is None


async def test_the_fetcher_takes_inbound_media_urls_and_refuses_others() -> None:
    seen: list[httpx.Request] = []
    transport = graph(httpx.Response(200, json=LOOKUP), httpx.Response(200, content=JPEG), seen)
    async with httpx.AsyncClient(transport=transport) as http:
        fetcher = MetaMediaFetcher(http, api_base="https://graph.fake", access_token="EAAG")
        media = await fetcher.fetch(f"meta-media:{MEDIA_ID}")
        assert (media.content, media.content_type) == (JPEG, "image/jpeg")
        assert not fetcher.handles("https://example.org/a.jpg")
        with pytest.raises(MediaUnavailable):
            await fetcher.fetch("https://example.org/a.jpg")
        unconfigured = MetaMediaFetcher(http, api_base="https://graph.fake", access_token=None)
        with pytest.raises(MediaUnavailable):
            await unconfigured.fetch(f"meta-media:{MEDIA_ID}")
    assert len(seen) == 2


async def test_a_declared_size_over_the_limit_is_refused_before_the_download() -> None:
    seen: list[httpx.Request] = []
    big = {**LOOKUP, "file_size": str(6 * 1024 * 1024)}
    with pytest.raises(MediaUnavailable) as caught:
        await fetch(httpx.Response(200, json=big), httpx.Response(200, content=JPEG), seen,
                    max_bytes=5 * 1024 * 1024)
    assert str(caught.value) == "media larger than allowed"
    assert [str(r.url) for r in seen] == [f"https://graph.fake/v21.0/{MEDIA_ID}"]


async def test_the_bot_photo_source_resolves_ids_and_reports_failures_as_media_errors() -> None:
    source = MetaMediaSource(api_base="https://graph.fake", access_token="EAAG-token")
    assert source.handles(f"meta-media:{MEDIA_ID}")
    assert not source.handles("meta-media:../../me") and not source.handles(LOOKUP["url"])
    seen: list[httpx.Request] = []
    ok = graph(httpx.Response(200, json=LOOKUP),
               httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"}), seen)
    async with httpx.AsyncClient(transport=ok) as http:
        assert await source.fetch(f"meta-media:{MEDIA_ID}", http, max_bytes=1 << 20,
                                  allowed=lambda url: True) == (JPEG, "image/jpeg")
        with pytest.raises(MediaError, match="not on an allowed host"):
            await source.fetch(f"meta-media:{MEDIA_ID}", http, max_bytes=1 << 20,
                               allowed=lambda url: False)
    gone = graph(httpx.Response(404, json={"error": {"code": 100}}), httpx.Response(200), [])
    async with httpx.AsyncClient(transport=gone) as http:
        with pytest.raises(MediaError, match="media lookup answered HTTP 404"):
            await source.fetch(f"meta-media:{MEDIA_ID}", http, max_bytes=1 << 20,
                               allowed=lambda url: True)
    assert len(seen) == 3  # lookup + download, then a lookup only (its link is refused)
