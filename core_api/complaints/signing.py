"""Signed links to complaint photos, for answers and for the events of an action.

Signing needs the public URL and the secret, which live on the application; the complaint
endpoints hand a ``Signer`` to the workflow hook with ``signing_with`` around an action,
so ``complaint.status_changed`` can carry links to the photos attached to it (the LME's
resolution photo reaches the citizen). An action taken on another path (the generic
workflow API, a timer) has no signer and its event carries no links.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core_api.files.signing import signed_url


class Signer:
    """Signed links for stored files, from the app's public URL and secret."""

    def __init__(self, public_url: str, secret_key: str) -> None:
        self.public_url = public_url
        self.secret_key = secret_key

    def __call__(self, key: str) -> str:
        return signed_url(self.public_url, self.secret_key, key)


_signer: ContextVar[Signer | None] = ContextVar("complaint_photo_signer", default=None)


@contextmanager
def signing_with(signer: Signer) -> Iterator[None]:
    """Make ``signer`` available to the workflow hook for the enclosed action."""
    token = _signer.set(signer)
    try:
        yield
    finally:
        _signer.reset(token)


def current_signer() -> Signer | None:
    return _signer.get()
