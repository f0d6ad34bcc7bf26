"""What every part of the wallet service shares: its collaborators and settings, asset and
network lookups, history windows, and how ids look on the wire."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bourse.domain.errors import (
    InvalidParameter,
    WithdrawalNotFound,
)
from bourse.domain.money import Asset, to_units
from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.services.wallet.chain import Chain, Network, listed_asset, pick_network
from bourse.store.repositories.wallet import WalletRepository

DAY_MS = 86_400_000


@dataclass(slots=True)
class WalletSettings:
    """Operator settings.

    * ``review_above``: per coin, a decimal amount; a withdrawal whose amount (fee included)
      is above it waits for review (``approve_withdrawal``);
    * ``whitelist``: enforce the withdraw address book of accounts that have entries;
    * ``history_max_days``: how far back history goes (MEXC: 90 days);
    * ``history_window_days``: the default window when no start is given (MEXC: 7 days);
    * ``sandbox``: allow the unsigned ``/sandbox/...`` endpoints (off by default: turn it on
      for sandbox and demo servers only).
    """

    review_above: dict[str, str] = field(default_factory=dict)
    whitelist: bool = True
    history_max_days: int = 90
    history_window_days: int = 7
    sandbox: bool = False


def format_id(value: int) -> str:
    """Withdrawal and transfer ids on the wire: the engine's integer as a decimal string."""
    return str(value)


def parse_id(text: str | int | None, what: str = "id") -> int:
    s = str(text or "").strip()
    if not (s.isascii() and s.isdigit()) or len(s) > 18:
        raise WithdrawalNotFound(f"{what} {s[:40]!r} does not exist")
    return int(s)


class WalletBase:
    """The collaborators of ``WalletService`` and the lookups its parts share."""

    def __init__(
        self,
        engine: Engine,
        repo: WalletRepository,
        chain: Chain,
        settings: WalletSettings | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.engine = engine
        self.repo = repo
        self.chain = chain
        self.settings = settings or WalletSettings()
        self.clock = clock
        #: serialises opening a non-spot wallet (``Transfers.wallet_account``)
        self._wallet_lock = threading.Lock()

    # --- assets and networks -------------------------------------------------------------------
    def asset(self, coin: str) -> Asset:
        return listed_asset(self.engine, coin)

    def assets(self) -> list[Asset]:
        return self.engine.read(lambda e: sorted(e.wallet.assets.values(), key=lambda a: a.code))

    def networks(self, coin: str) -> tuple[Network, ...]:
        return self.chain.networks(self.asset(coin))

    def network(self, asset: Asset, name: str | None, contract: str = "") -> Network:
        """A network of ``asset`` by id, display name or alias (``None``: the default one, or
        the one of token ``contract``); a ``contract`` must be the network's (``pick_network``)."""
        return pick_network(asset, self.chain.networks(asset), name, contract)

    def currencies(self) -> list[tuple[Asset, tuple[Network, ...]]]:
        """Every asset with its networks (``capital/config/getall``)."""
        return [(a, self.chain.networks(a)) for a in self.assets()]

    def networks_of(self, coins: set[str]) -> dict[tuple[str, str], Network]:
        """(coin, network id) -> Network for the given coins (one engine read)."""
        if not coins:
            return {}
        assets = self.engine.read(lambda e: [e.wallet.assets.get(x) for x in coins])
        return {(a.code, n.id): n for a in assets if a is not None for n in self.chain.networks(a)}

    def review_threshold(self, asset: Asset) -> int | None:
        raw = self.settings.review_above.get(asset.code)
        return None if raw is None else to_units(raw, asset.scale, field="review threshold")

    # --- history windows -----------------------------------------------------------------------
    def window(
        self, start: int | None, end: int | None, default_days: int | None = None
    ) -> tuple[int, int]:
        """(start, end) in ms: end defaults to now, start to end minus the default window;
        neither reaches further back than ``history_max_days``."""
        now = self.clock()
        s = self.settings
        end = now if end is None else end
        if start is None:
            start = end - (default_days or s.history_window_days) * DAY_MS
        floor = now - s.history_max_days * DAY_MS
        start = max(start, floor)
        if end < start:
            raise InvalidParameter("endTime must not be before startTime")
        return start, end
