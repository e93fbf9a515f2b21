"""What one panel supports, as far as the bot has seen (docs/panel-api-family.md §8).

Every flag starts unknown (None). The client learns `bulk_status` itself (a panel that refuses the
`orders=1,2,3` form for any list, even of one id, while answering `order=` does not have it); the
catalog tells refill, cancel and drip-feed; `balance` tells the account's currency. The services
layer keeps them per panel in the database (storage/repositories/panel.py), so a restart does not
have to find out again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from bot.panel.models import PanelService

__all__ = ["PanelCapabilities", "panel_key", "public_url"]


@dataclass(frozen=True)
class PanelCapabilities:
    """None = not known yet; the client behaves as before (bulk first) until it learns otherwise."""

    bulk_status: bool | None = None
    refill: bool | None = None
    cancel: bool | None = None
    dripfeed: bool | None = None
    currency: str | None = None

    def with_catalog(self, services: Iterable[PanelService]) -> PanelCapabilities:
        """Refill, cancel and drip-feed as the catalog offers them (any service with the flag)."""
        items = list(services)
        if not items:
            return self
        return replace(
            self,
            refill=any(s.refill for s in items),
            cancel=any(s.cancel for s in items),
            dripfeed=any(s.dripfeed for s in items),
        )


def public_url(url: str) -> str:
    """The panel URL without credentials, query or fragment (a key may hide in the query)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host.lower(), parts.path, "", ""))


def panel_key(url: str) -> str:
    """A stable key for one panel: a digest of its public URL (fits the 64-character column)."""
    return hashlib.sha256(public_url(url).encode()).hexdigest()[:32]
