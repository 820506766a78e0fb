"""Media links in webhooks are attacker-controlled: the photo fetcher downloads only from the
providers' media hosts (and our own /files links), follows no redirect elsewhere, sends
Twilio's credentials only to Twilio, and keeps to the photo types and size."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bot.media import MAX_PHOTO_BYTES, MediaError, MediaPolicy, fetch_media
from samvad.media import media_policy
from samvad.settings import Settings

pytestmark = pytest.mark.reliability

SID, TOKEN = "AC" + "1" * 32, "2" * 32
TWILIO_MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"
CDN = "https://mms.twiliocdn.com/AC1/abc/photo.jpg"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 1000
INTERNAL = (
    "http://127.0.0.1:8000/api/v1/complaints",
    "http://localhost/admin",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.5/photo.jpg",
    "http://192.168.1.1/",
    "http://[::1]/photo.jpg",
    "http://0.0.0.0/",
    "http://2130706433/",  # 127.0.0.1 as a number
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://api.twilio.com/x.jpg",
    "https://user:pass@api.twilio.com/x.jpg",
    "https://api.twilio.com.evil.example/x.jpg",
    "https://evil.example/api.twilio.com/x.jpg",
    "http://samvad.example.in/api/v1/auth/me",  # our own host, but not a /files/ link
    "http://samvad.example.in/files/../api/v1/auth/me",
    "meta-media:../../me",
    "//169.254.169.254/",
    "",
)


class Provider:
    """The outside world for httpx.MockTransport: records each request, answers by URL."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(str(request.url), httpx.Response(404))


def _policy(provider: Provider, **env: Any) -> MediaPolicy:
    settings = Settings(SAMVAD_ENV="development", SAMVAD_PUBLIC_URL="http://samvad.example.in",
                        TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN,
                        WHATSAPP_API_BASE="https://graph.facebook.com",
                        WHATSAPP_ACCESS_TOKEN="meta-token", **env)
    return replace(media_policy(settings), transport=httpx.MockTransport(provider))


def _photo(size: int = len(JPEG), content_type: str = "image/jpeg") -> httpx.Response:
    return httpx.Response(200, content=b"\xff" * size,
                          headers={"content-type": content_type})


async def test_internal_and_foreign_links_are_never_fetched(reliability: Any) -> None:
    provider = Provider({})
    policy = _policy(provider)
    refused = []
    for url in INTERNAL:
        with pytest.raises(MediaError):
            await fetch_media(url, policy)
        refused.append(url)
    assert provider.requests == []  # not one request left the process
    with pytest.raises(MediaError):  # no policy at all: nothing is allowed
        await fetch_media(TWILIO_MEDIA)
    reliability.record(
        area="abuse", case="Media links to internal or foreign addresses (SSRF)",
        sent=f"{len(refused)} links: loopback, link-local metadata, private ranges, IPv6 "
             "loopback, numeric IP, file:, gopher:, ftp:, credentials in the link, look-alike "
             "hosts, our own host outside /files/, path traversal",
        did="each refused before any connection (MediaError; the complaint is filed without "
            "the photo)",
        lost="nothing; 0 requests made")


async def test_redirects_credentials_types_and_sizes(reliability: Any) -> None:
    provider = Provider({
        TWILIO_MEDIA: httpx.Response(307, headers={"location": CDN}),
        CDN: _photo(),
        f"{TWILIO_MEDIA}/internal": httpx.Response(
            302, headers={"location": "http://169.254.169.254/latest/meta-data/"}),
        f"{TWILIO_MEDIA}/loop": httpx.Response(302, headers={"location": f"{TWILIO_MEDIA}/loop"}),
        f"{TWILIO_MEDIA}/html": _photo(content_type="text/html"),
        f"{TWILIO_MEDIA}/svg": _photo(content_type="image/svg+xml"),
        f"{TWILIO_MEDIA}/big": _photo(MAX_PHOTO_BYTES + 1),
        f"{TWILIO_MEDIA}/liar": httpx.Response(200, content=b"\xff" * (MAX_PHOTO_BYTES + 10),
                                               headers={"content-type": "image/png",
                                                        "content-length": "10"}),
        "http://samvad.example.in/files/simulator/a.jpg?exp=1&sig=x": _photo(),
        "http://media.fake:9000/p.jpg": _photo(),
    })
    policy = _policy(provider, SAMVAD_MEDIA_HOSTS="media.fake:9000")

    data, content_type = await fetch_media(TWILIO_MEDIA, policy)
    assert (len(data), content_type) == (len(JPEG), "image/jpeg")
    to_twilio, to_cdn = provider.requests
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert to_twilio.headers["authorization"] == f"Basic {basic}"
    assert "authorization" not in to_cdn.headers  # credentials stay with Twilio

    refusals = {}
    for name in ("internal", "loop", "html", "svg", "big", "liar"):
        with pytest.raises(MediaError) as caught:
            await fetch_media(f"{TWILIO_MEDIA}/{name}", policy)
        refusals[name] = str(caught.value)
    assert refusals["internal"] == "redirected to a host that is not allowed"
    assert refusals["loop"] == "too many redirects"
    assert refusals["html"].startswith("not a photo") and refusals["svg"].startswith("not a photo")
    assert refusals["big"] == refusals["liar"] == "too large"
    assert not any("169.254" in str(r.url) for r in provider.requests)

    # The simulator's own signed /files links and a configured extra host are fetched.
    assert (await fetch_media("http://samvad.example.in/files/simulator/a.jpg?exp=1&sig=x",
                              policy))[1] == "image/jpeg"
    assert (await fetch_media("http://media.fake:9000/p.jpg", policy))[1] == "image/jpeg"
    with pytest.raises(MediaError):
        await fetch_media("http://media.fake:9001/p.jpg", policy)  # not that port
    reliability.record(
        area="abuse", case="Media redirects, types and sizes",
        sent="a Twilio media link redirecting to its CDN; redirects to 169.254.169.254 and in "
             "a loop; text/html and SVG 'photos'; 5 MB + 1 byte; a body larger than its "
             "Content-Length",
        did="Twilio link fetched with basic auth, CDN without it; internal redirect and "
            "loop refused; non-photo types and oversized bodies refused while streaming",
        lost="nothing; no request reached an internal address")


async def test_meta_media_is_resolved_through_the_graph_api_only(reliability: Any) -> None:
    graph = "https://graph.facebook.com/v21.0"
    provider = Provider({
        f"{graph}/111": httpx.Response(200, json={
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=111",
            "mime_type": "image/jpeg"}),
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=111": _photo(),
        f"{graph}/222": httpx.Response(200, json={
            "url": "http://169.254.169.254/latest/meta-data/", "mime_type": "image/jpeg"}),
    })
    policy = _policy(provider)
    assert (await fetch_media("meta-media:111", policy))[1] == "image/jpeg"
    assert provider.requests[1].headers["authorization"] == "Bearer meta-token"
    with pytest.raises(MediaError):
        await fetch_media("meta-media:222", policy)
    assert [str(r.url) for r in provider.requests][2:] == [f"{graph}/222"]
    reliability.record(
        area="abuse", case="Meta media id whose lookup points at an internal address",
        sent="meta-media:<id> resolved by the Graph API to lookaside.fbsbx.com, and one "
             "resolved to 169.254.169.254",
        did="the first downloaded with the token; the second refused before the download "
            "(the token is never sent there)",
        lost="nothing")
