"""What the erasure tests look for in Redis: every key that names a phone number."""

from __future__ import annotations

from typing import Any


async def keys_naming(redis: Any, phone: str) -> list[str]:
    """Every key whose name holds ``phone``, sorted (SCAN visits each node of a cluster)."""
    return sorted([key.decode() async for key in redis.scan_iter(match=f"*{phone}*")])
