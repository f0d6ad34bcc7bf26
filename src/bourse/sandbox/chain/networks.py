"""The simulated chain's networks per coin: ``NetworkSpec`` as configured (decimal strings),
resolved into the wallet's ``Network`` values (integer units of the coin) by ``ChainConfig``.

``DEFAULT_NETWORKS`` are those of the demo listings, with sandbox values (small confirmation
counts so the sandbox is quick).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from bourse.domain.money import MAX_UNITS, Asset, to_units
from bourse.services.wallet.chain import Network, pick_network


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """A network of a coin as configured: amounts are decimal strings in whole coins."""

    id: str  # MEXC ``netWork``: what the withdraw endpoint takes (TRX, ETH, BSC, ...)
    name: str  # MEXC ``network``: the display name (Tron(TRC20), ...)
    confirmations: int
    withdraw_fee: str
    withdraw_min: str
    withdraw_max: str
    deposit_min: str = "0"
    memo_required: bool = False
    #: address format: ``evm``, ``tron``, ``btc``, ``ton`` or ``plain``
    style: str = "evm"
    #: other names clients use for it (unified codes such as ERC20, TRC20, BEP20, TON)
    aliases: tuple[str, ...] = ()
    contract: str = ""
    deposit_enable: bool = True
    withdraw_enable: bool = True


def _resolve(asset: Asset, spec: NetworkSpec) -> Network:
    s = asset.scale
    return Network(
        coin=asset.code,
        id=spec.id,
        name=spec.name,
        confirmations=max(1, spec.confirmations),
        withdraw_fee=to_units(spec.withdraw_fee, s, field="withdrawFee"),
        withdraw_min=to_units(spec.withdraw_min, s, field="withdrawMin"),
        withdraw_max=to_units(spec.withdraw_max, s, field="withdrawMax"),
        deposit_min=to_units(spec.deposit_min, s, field="depositMin"),
        memo_required=spec.memo_required,
        style=spec.style,
        aliases=spec.aliases,
        contract=spec.contract,
        deposit_enable=spec.deposit_enable,
        withdraw_enable=spec.withdraw_enable,
        scale=s,
    )


_ERC20 = ("ERC20", "ERC-20", "ETHEREUM")
_BEP20 = ("BEP20", "BEP-20", "BEP20(BSC)", "BNB SMART CHAIN")
_TRC20 = ("TRC20", "TRC-20", "TRON")

#: the default networks of the demo listings (sandbox values; confirmations kept small)
DEFAULT_NETWORKS: dict[str, tuple[NetworkSpec, ...]] = {
    "USDT": (
        NetworkSpec(
            "TRX",
            "Tron(TRC20)",
            3,
            "1",
            "5",
            "1000000",
            "0.01",
            style="tron",
            aliases=_TRC20,
            contract="TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        ),
        NetworkSpec(
            "ETH",
            "Ethereum(ERC20)",
            6,
            "3",
            "10",
            "1000000",
            "0.01",
            aliases=_ERC20,
            contract="0xdAC17F958D2ee523a2206206994597C13D831ec7",
        ),
        NetworkSpec(
            "BSC",
            "BNB Smart Chain(BEP20)",
            5,
            "0.5",
            "2",
            "1000000",
            "0.01",
            aliases=_BEP20,
            contract="0x55d398326f99059fF775485246999027B3197955",
        ),
        NetworkSpec(
            "TONCOIN",
            "Toncoin(TON)",
            2,
            "0.3",
            "1",
            "1000000",
            "0.01",
            memo_required=True,
            style="ton",
            aliases=("TON",),
            contract="EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs",
        ),
    ),
    "BTC": (
        NetworkSpec("BTC", "Bitcoin(BTC)", 2, "0.0002", "0.001", "100", "0.00001", style="btc"),
        NetworkSpec(
            "BSC",
            "BNB Smart Chain(BEP20)",
            5,
            "0.00001",
            "0.0002",
            "50",
            "0.000001",
            aliases=_BEP20,
            contract="0x7130d2A12B9BCbFAe4f2634d864A1Ee1Ce3Ead9c",
        ),
    ),
    "ETH": (
        NetworkSpec("ETH", "Ethereum(ERC20)", 6, "0.002", "0.01", "1000", "0.0001", aliases=_ERC20),
        NetworkSpec(
            "BSC",
            "BNB Smart Chain(BEP20)",
            5,
            "0.0001",
            "0.005",
            "500",
            "0.00001",
            aliases=_BEP20,
            contract="0x2170Ed0880ac9A755fd29B2688956BD959F933F8",
        ),
    ),
    "MX": (
        NetworkSpec(
            "ETH",
            "Ethereum(ERC20)",
            6,
            "5",
            "20",
            "1000000",
            "0.1",
            aliases=_ERC20,
            contract="0x11eeF04c884E24d9B7B4760e7476D06ddF797f36",
        ),
        NetworkSpec(
            "BSC", "BNB Smart Chain(BEP20)", 5, "0.5", "2", "1000000", "0.1", aliases=_BEP20
        ),
    ),
}


class ChainConfig:
    """Networks per coin. Coins without an entry get one generic network named after the coin
    (no fee, no minimum), so an asset listed later can still be deposited and withdrawn."""

    def __init__(self, specs: dict[str, tuple[NetworkSpec, ...]] | None = None) -> None:
        self.specs = dict(DEFAULT_NETWORKS if specs is None else specs)
        self._cache: dict[tuple[str, int], tuple[Network, ...]] = {}
        self._lock = threading.Lock()

    def networks(self, asset: Asset) -> tuple[Network, ...]:
        key = (asset.code, asset.scale)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        specs = self.specs.get(asset.code) or (
            NetworkSpec(asset.code, asset.name or asset.code, 1, "0", "0", "0", style="plain"),
        )
        nets = tuple(_resolve(asset, s) for s in specs)
        if not self.specs.get(asset.code):  # generic: no maximum
            nets = tuple(replace(n, withdraw_max=MAX_UNITS, withdraw_min=1) for n in nets)
        with self._lock:
            self._cache[key] = nets
        return nets

    def network(self, asset: Asset, name: str | None) -> Network:
        """``name`` may be the ``netWork`` id, the display name or an alias (any case);
        ``None`` or empty picks the coin's default (first) network."""
        return pick_network(asset, self.networks(asset), name)

    def by_id(self, asset: Asset, network_id: str) -> Network | None:
        for n in self.networks(asset):
            if n.id == network_id:
                return n
        return None
