"""The ``Chain`` port: what the wallet needs from a blockchain, and the values it exchanges.

The wallet never talks to a chain directly: it is handed an object that satisfies ``Chain``.
The sandbox simulator (``bourse.sandbox.chain.SimulatedChain``) is one such adapter, wired by
``bourse.bootstrap``; a connector to a real chain would be another.

What a chain provides:

* **networks** of each coin (``Network``: MEXC's ``netWork`` id, display name, confirmations,
  withdraw fee, min and max, memo rule, address style);
* **deposit addresses**: one per (account, coin, network), created on first use, so an incoming
  payment finds its account;
* **deposits** it has seen paying those addresses (``ChainDeposit``), credited to the account
  through the engine once confirmed;
* **withdrawal broadcasts**: the chain picks up the withdrawals the engine holds as ``PENDING``,
  and reports per withdrawal what it did (``ChainWithdrawal``: txid, block, confirmations);
* a lifecycle (``start``/``stop``) for whatever runs in the background.

Rules the wallet applies on top of any chain (picking a network by id, name, alias or token
contract; the format check of a withdrawal address) live here too, next to the values they
read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from bourse.domain.errors import (
    ContractMismatch,
    MissingParameter,
    NetworkNotSupported,
    UnknownAsset,
)
from bourse.domain.money import Asset
from bourse.engine import Engine

#: the digits of base58 (Tron, legacy Bitcoin) and bech32 (SegWit Bitcoin) addresses
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass(frozen=True, slots=True)
class Network:
    """A network of one coin with amounts in that coin's integer units."""

    coin: str
    id: str  # MEXC ``netWork``: what the withdraw endpoint takes (TRX, ETH, BSC, ...)
    name: str  # MEXC ``network``: the display name (Tron(TRC20), ...)
    confirmations: int
    withdraw_fee: int
    withdraw_min: int
    withdraw_max: int
    deposit_min: int
    memo_required: bool
    #: address format: ``evm``, ``tron``, ``btc``, ``ton`` or ``plain``
    style: str
    #: other names clients use for it (unified codes such as ERC20, TRC20, BEP20, TON)
    aliases: tuple[str, ...]
    contract: str
    deposit_enable: bool
    withdraw_enable: bool
    scale: int

    def matches(self, name: str) -> bool:
        key = name.strip().upper()
        return key in (self.id.upper(), self.name.upper()) or key in (
            a.upper() for a in self.aliases
        )

    def has_contract(self, address: str) -> bool:
        """Whether ``address`` is the coin's token contract on this network (a native coin has
        none). EVM addresses are hex, so any case names the same contract (the mixed case is a
        checksum); other styles (Tron's base58, TON's base64) are case-sensitive."""
        if not self.contract:
            return False
        if self.style == "evm":
            return address.lower() == self.contract.lower()
        return address == self.contract


def pick_network(
    asset: Asset, networks: tuple[Network, ...], name: str | None, contract: str = ""
) -> Network:
    """``name`` may be the ``netWork`` id, the display name or an alias (any case); ``None``
    or empty picks the coin's default (first) network, or with a ``contract`` (a withdrawal's
    ``contractAddress``) the network whose token contract it is. A ``contract`` that is not the
    picked network's is refused (``ContractMismatch``)."""
    if not name:
        if not contract:
            return networks[0]
        for n in networks:
            if n.has_contract(contract):
                return n
        raise ContractMismatch(
            f"contractAddress {contract[:128]!r} is not a contract of {asset.code}"
        )
    for n in networks:
        if n.matches(name):
            if contract and not n.has_contract(contract):
                raise ContractMismatch(
                    f"contractAddress {contract[:128]!r} is not the contract of {asset.code} "
                    f"on {n.id}"
                )
            return n
    raise NetworkNotSupported(f"network {name!r} is not supported for {asset.code}")


def valid_address(style: str, address: str) -> bool:
    """A light format check of a withdrawal address for the network's style."""
    a = address.strip()
    if a != address or not a or len(a) > 128 or any(ch.isspace() for ch in a):
        return False
    if style == "evm":
        return (
            len(a) == 42 and a[:2] == "0x" and all(ch in "0123456789abcdefABCDEF" for ch in a[2:])
        )
    if style == "tron":
        return len(a) == 34 and a[0] == "T" and all(ch in B58 for ch in a)
    if style == "btc":
        if a.lower().startswith("bc1"):
            return 14 <= len(a) <= 74 and all(ch in BECH32 for ch in a[3:].lower())
        return a[0] in "13" and 26 <= len(a) <= 35 and all(ch in B58 for ch in a)
    if style == "ton":
        return len(a) == 48 and all(ch.isalnum() or ch in "-_" for ch in a)
    return True


@dataclass(frozen=True, slots=True)
class DepositAddress:
    account: int
    coin: str
    network: Network
    address: str
    memo: str


@dataclass(frozen=True, slots=True)
class ChainDeposit:
    """A payment the chain saw (``status``: UNKNOWN, SMALL, PENDING or SUCCESS)."""

    id: int
    network: str
    txid: str
    vout: int
    coin: str
    address: str
    memo: str
    amount: int
    account: int | None
    block: int | None
    confirmations: int
    required: int
    status: str
    credited: bool
    created: int
    updated: int

    @property
    def tx_ref(self) -> str:
        return f"{self.txid}:{self.vout}"


@dataclass(frozen=True, slots=True)
class ChainWithdrawal:
    """What the chain did with a withdrawal (``status``: SIGNED, BROADCAST, CONFIRMED, FAILED
    or ABORTED); ``block`` is ``None`` until a block includes the transaction."""

    withdrawal_id: int
    network: str
    coin: str
    txid: str
    block: int | None
    confirmations: int
    required: int
    status: str


class Chain(Protocol):
    """What the wallet needs from a chain (see the module docstring)."""

    def networks(self, asset: Asset) -> tuple[Network, ...]:
        """The networks of ``asset``, its default (first) one first; never empty."""
        ...

    def deposit_address(self, account: int, network: Network) -> DepositAddress:
        """The account's address on ``network`` (for ``network.coin``), created on first use."""
        ...

    def addresses(self, account: int, asset: Asset) -> list[DepositAddress]:
        """The account's existing addresses for ``asset``, in the coin's network order."""
        ...

    def deposits(
        self,
        accounts: Iterable[int],
        *,
        coin: str | None = None,
        network: str | None = None,
        statuses: Iterable[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[ChainDeposit]:
        """Deposits to these accounts, newest first."""
        ...

    def withdrawal_info(self, ids: Iterable[int]) -> dict[int, ChainWithdrawal]:
        """What the chain did with these withdrawals (absent: nothing yet)."""
        ...

    def start(self) -> object:
        """Run the background work (blocks, broadcasts) until ``stop``."""
        ...

    def stop(self) -> None: ...


def listed_asset(engine: Engine, coin: str) -> Asset:
    """The listed asset ``coin`` (case-insensitive); the wallet and every chain adapter look
    coins up this one way."""
    code = (coin or "").strip().upper()
    if not code:
        raise MissingParameter("coin cannot be null")
    asset = engine.read(lambda e: e.wallet.assets.get(code))
    if asset is None:
        raise UnknownAsset(f"currency {code!r} does not exist")
    return asset
