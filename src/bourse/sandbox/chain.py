"""A simulated blockchain for deposits and withdrawals (sandbox mode).

What it models, per coin and network (``Network``: MEXC's ``netWork`` id such as ``TRX``, ``ETH``,
``BSC``, ``BTC``, ``TONCOIN``, a display name such as ``Tron(TRC20)``, confirmations, withdraw
fee, min and max, and whether a memo is required):

* **Deposit addresses** are derived with HMAC-SHA256 from a server secret and (account, coin,
  network), formatted like the real chain's addresses. Memo networks share one hot-wallet
  address and tell accounts apart by a derived numeric memo. Addresses are stored in
  ``deposit_addresses`` so an incoming payment finds its account.
* **A block clock**: ``advance(n)`` mines ``n`` blocks (tests), or ``start()`` runs a background
  thread that mines one block every ``block_interval`` seconds until ``stop()``.
* **Deposits**: ``send_deposit(address, memo, coin, network, amount)`` puts a payment in the
  mempool; the next block includes it; once it has the network's confirmations it is credited
  through the engine's ``CreditDeposit`` with ``tx_ref = "txid:vout"``, so a re-reported
  payment, a retried credit or a crash between the engine commit and the chain's bookkeeping
  never credits twice.
* **Withdrawals**: every block, withdrawals the engine holds as ``PENDING`` (reserved and not
  under review) are signed: a txid is chosen and stored *before* the engine is told
  (``MarkWithdrawalProcessing``), so a crash re-broadcasts the same transaction. The next block
  includes the transaction; after its confirmations the chain says either success
  (``SettleWithdrawal``) or failure (``VoidWithdrawal(failed=True)``, which releases the
  reserve). ``failure_rate`` makes some transactions fail on chain, ``stuck_rate`` makes some
  never get included: those stay ``PROCESSING`` with their funds locked for as long as the
  chain says nothing, because an unknown outcome is never refunded (broker-anchors C.3).
  ``rebroadcast(withdrawal_id)`` (an operator's fee bump) lets a stuck one through.

Every loop is bounded: ``advance`` mines at most ``MAX_ADVANCE`` blocks per call, each block
handles at most ``max_per_block`` deposits and withdrawals per step, and the thread stops on
``stop()`` (or after ``max_blocks``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import random
import re
import secrets
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from bourse.domain.accounts import AccountKind
from bourse.domain.errors import DomainError, InvalidParameter, MissingParameter, UnknownAsset
from bourse.domain.money import MAX_UNITS, Asset, to_units
from bourse.domain.wallet import FINAL_WITHDRAWAL, Withdrawal, WithdrawalStatus
from bourse.engine import commands as c
from bourse.store import wallet_tables as wt

log = logging.getLogger("bourse.sandbox.chain")

#: most blocks one ``advance`` call mines
MAX_ADVANCE = 10_000
#: attempts at a fresh memo when a derived one is already taken
_MEMO_ATTEMPTS = 16

_TXID = re.compile(r"(?:0x)?[0-9A-Za-z]{1,126}")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- networks ----------------------------------------------------------------------------------
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


@dataclass(frozen=True, slots=True)
class Network:
    """A network of one coin with amounts in that coin's integer units."""

    coin: str
    id: str
    name: str
    confirmations: int
    withdraw_fee: int
    withdraw_min: int
    withdraw_max: int
    deposit_min: int
    memo_required: bool
    style: str
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
            nets = tuple(
                Network(**{**_fields(n), "withdraw_max": MAX_UNITS, "withdraw_min": 1})
                for n in nets
            )
        with self._lock:
            self._cache[key] = nets
        return nets

    def network(self, asset: Asset, name: str | None) -> Network:
        """``name`` may be the ``netWork`` id, the display name or an alias (any case);
        ``None`` or empty picks the coin's default (first) network."""
        nets = self.networks(asset)
        if not name:
            return nets[0]
        for n in nets:
            if n.matches(name):
                return n
        raise NetworkNotSupported(f"network {name!r} is not supported for {asset.code}")

    def by_id(self, asset: Asset, network_id: str) -> Network | None:
        for n in self.networks(asset):
            if n.id == network_id:
                return n
        return None


def _fields(n: Network) -> dict[str, Any]:
    return {f: getattr(n, f) for f in Network.__slots__}


class NetworkNotSupported(InvalidParameter):
    """This network is not supported for the coin."""


class InvalidAddress(InvalidParameter):
    """The address is not valid for the network."""


# --- addresses ---------------------------------------------------------------------------------
def _b58(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(64):  # bounded: 32 bytes need at most 44 digits
        if n == 0:
            break
        n, r = divmod(n, 58)
        out.append(_B58[r])
    return "".join(reversed(out))


def format_address(style: str, digest: bytes) -> str:
    """A chain-looking address from 32 bytes of HMAC output."""
    if style == "tron":
        return "T" + _b58(digest).rjust(33, "1")[:33]
    if style == "btc":
        bits = int.from_bytes(digest, "big")
        return "bc1q" + "".join(_BECH32[(bits >> (5 * i)) & 31] for i in range(38))
    if style == "ton":
        return "UQ" + urlsafe_b64encode(digest + digest[:3]).decode()[:46]
    if style == "plain":
        return "SBX" + digest[:20].hex()
    return "0x" + digest[:20].hex()


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
        return len(a) == 34 and a[0] == "T" and all(ch in _B58 for ch in a)
    if style == "btc":
        if a.lower().startswith("bc1"):
            return 14 <= len(a) <= 74 and all(ch in _BECH32 for ch in a[3:].lower())
        return a[0] in "13" and 26 <= len(a) <= 35 and all(ch in _B58 for ch in a)
    if style == "ton":
        return len(a) == 48 and all(ch.isalnum() or ch in "-_" for ch in a)
    return True


def derive_address(
    secret: bytes, account: int, coin: str, network: Network, attempt: int = 0
) -> tuple[str, str]:
    """The (address, memo) of ``account`` for ``coin`` on ``network``: HMAC of the secret."""
    msg = f"deposit|{account}|{coin}|{network.id}|{attempt}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    if network.memo_required:
        hot = hmac.new(secret, f"hot|{network.id}".encode(), hashlib.sha256).digest()
        memo = str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)
        return format_address(network.style, hot), memo
    return format_address(network.style, digest), ""


def _txid(style: str, raw: bytes) -> str:
    return ("0x" if style == "evm" else "") + raw.hex()


# --- records -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DepositAddress:
    account: int
    coin: str
    network: Network
    address: str
    memo: str


@dataclass(frozen=True, slots=True)
class ChainDeposit:
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


def _deposit(row: Any) -> ChainDeposit:
    return ChainDeposit(
        row["id"],
        row["network"],
        row["txid"],
        row["vout"],
        row["coin"],
        row["address"],
        row["memo"],
        row["amount"],
        row["account_id"],
        row["block"],
        row["confirmations"],
        row["required"],
        row["status"],
        bool(row["credited"]),
        row["created"],
        row["updated"],
    )


@dataclass(slots=True)
class BlockReport:
    """What ``advance`` did (summed over the blocks it mined)."""

    height: int = 0
    credited: int = 0
    broadcast: int = 0
    settled: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


# --- the chain ---------------------------------------------------------------------------------
class Chain:
    """The simulated chain bound to an engine and the database (see the module docstring).

    ``engine``: a ``bourse.engine.Engine`` (started or not); ``db``: the SQLAlchemy engine of
    the same database, migrated to head; ``secret``: the server secret addresses derive from.
    """

    def __init__(
        self,
        engine: Any,
        db: SAEngine,
        secret: bytes,
        config: ChainConfig | None = None,
        *,
        block_interval: float = 3.0,
        failure_rate: float = 0.0,
        stuck_rate: float = 0.0,
        seed: int | None = None,
        max_per_block: int = 500,
        command_timeout: float = 30.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if not 0.0 <= failure_rate + stuck_rate <= 1.0 or failure_rate < 0 or stuck_rate < 0:
            raise ValueError("failure_rate and stuck_rate must be probabilities summing to <= 1")
        self.engine = engine
        self.db = db
        self.secret = secret
        self.config = config or ChainConfig()
        self.block_interval = block_interval
        self.failure_rate = failure_rate
        self.stuck_rate = stuck_rate
        self.max_per_block = max_per_block
        self.command_timeout = command_timeout
        self.clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.height = self._load_height()

    # --- config lookups ------------------------------------------------------------------------
    def asset(self, coin: str) -> Asset:
        code = (coin or "").strip().upper()
        if not code:
            raise MissingParameter("coin cannot be null")
        asset = self.engine.read(lambda e: e.wallet.assets.get(code))
        if asset is None:
            raise UnknownAsset(f"currency {code!r} does not exist")
        return asset

    def networks(self, coin: str) -> tuple[Network, ...]:
        return self.config.networks(self.asset(coin))

    def network(self, coin: str, name: str | None) -> Network:
        return self.config.network(self.asset(coin), name)

    # --- addresses -----------------------------------------------------------------------------
    def deposit_address(self, account: int, coin: str, network: str | None) -> DepositAddress:
        """The account's address for ``coin`` on ``network``, created on first use."""
        net = self.network(coin, network)
        if not net.deposit_enable:
            raise NetworkNotSupported(f"deposits of {net.coin} on {net.id} are suspended")
        acc = self.engine.read(lambda e: e.wallet.accounts.get(account))
        if acc is None or acc.kind is AccountKind.SYSTEM:
            raise InvalidParameter(f"account {account} cannot receive deposits")
        t = wt.deposit_addresses
        key = and_(t.c.account_id == account, t.c.coin == net.coin, t.c.network == net.id)
        for attempt in range(_MEMO_ATTEMPTS):
            with self.db.begin() as conn:
                row = conn.execute(select(t.c.address, t.c.memo).where(key)).first()
            if row is not None:
                return DepositAddress(account, net.coin, net, row[0], row[1])
            address, memo = derive_address(self.secret, account, net.coin, net, attempt)
            try:
                with self.db.begin() as conn:
                    conn.execute(
                        insert(t).values(
                            account_id=account,
                            coin=net.coin,
                            network=net.id,
                            address=address,
                            memo=memo,
                            created=self.clock(),
                        )
                    )
                return DepositAddress(account, net.coin, net, address, memo)
            except IntegrityError:
                continue  # created concurrently (re-read) or a memo collision (next attempt)
        raise InvalidParameter("no address available, try later")

    def addresses(self, account: int, coin: str) -> list[DepositAddress]:
        """The account's existing addresses for ``coin`` (in the coin's network order)."""
        asset = self.asset(coin)
        nets = {n.id: n for n in self.config.networks(asset)}
        t = wt.deposit_addresses
        with self.db.begin() as conn:
            rows = conn.execute(
                select(t.c.network, t.c.address, t.c.memo).where(
                    t.c.account_id == account, t.c.coin == asset.code
                )
            ).all()
        found = {r[0]: r for r in rows if r[0] in nets}
        return [
            DepositAddress(account, asset.code, nets[nid], found[nid][1], found[nid][2])
            for nid in nets
            if nid in found
        ]

    def owner(self, network: str, coin: str, address: str, memo: str) -> int | None:
        t = wt.deposit_addresses
        with self.db.begin() as conn:
            return conn.execute(
                select(t.c.account_id).where(
                    t.c.network == network,
                    t.c.coin == coin,
                    t.c.address == address,
                    t.c.memo == memo,
                )
            ).scalar()

    # --- deposits ------------------------------------------------------------------------------
    def send_deposit(
        self,
        address: str,
        memo: str,
        coin: str,
        network: str | None,
        amount: int,
        *,
        txid: str | None = None,
        vout: int = 0,
    ) -> ChainDeposit:
        """Put a payment of ``amount`` units of ``coin`` to ``address`` (+ ``memo``) in the
        mempool. Reporting the same (network, txid, vout) again changes nothing and returns the
        payment as first seen."""
        net = self.network(coin, network)
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_UNITS:
            raise InvalidParameter("amount must be a positive number of units")
        if not 0 <= vout < 2**31:
            raise InvalidParameter("vout out of range")
        memo = (memo or "").strip()
        address = (address or "").strip()
        if not address or len(address) > 128 or len(memo) > 128:
            raise InvalidAddress("address or memo is empty or too long")
        if txid is not None and not _TXID.fullmatch(txid):
            raise InvalidParameter("txid must be 1 to 128 letters and digits (0x allowed)")
        txid = txid or _txid(net.style, secrets.token_bytes(32))
        owner = self.owner(net.id, net.coin, address, memo if net.memo_required else "")
        if owner is None:
            status = "UNKNOWN"
        elif amount < net.deposit_min:
            status = "SMALL"
        else:
            status = "PENDING"
        now = self.clock()
        t = wt.chain_deposits
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(t).values(
                        network=net.id,
                        txid=txid,
                        vout=vout,
                        coin=net.coin,
                        address=address,
                        memo=memo,
                        amount=amount,
                        account_id=owner,
                        block=None,
                        confirmations=0,
                        required=net.confirmations,
                        status=status,
                        credited=False,
                        created=now,
                        updated=now,
                    )
                )
        except IntegrityError:
            pass  # the chain re-reported a payment it already told us about
        found = self.deposit(net.id, txid, vout)
        assert found is not None
        return found

    def deposit(self, network: str, txid: str, vout: int = 0) -> ChainDeposit | None:
        t = wt.chain_deposits
        with self.db.begin() as conn:
            row = (
                conn.execute(
                    select(t).where(t.c.network == network, t.c.txid == txid, t.c.vout == vout)
                )
                .mappings()
                .first()
            )
        return _deposit(row) if row is not None else None

    def deposits(
        self,
        account: int | Iterable[int],
        *,
        coin: str | None = None,
        network: str | None = None,
        statuses: Iterable[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[ChainDeposit]:
        """An account's (or several accounts') deposits, newest first."""
        t = wt.chain_deposits
        if isinstance(account, int):
            q = select(t).where(t.c.account_id == account)
        else:
            q = select(t).where(t.c.account_id.in_(list(account)))
        if coin:
            q = q.where(t.c.coin == coin)
        if network:
            q = q.where(t.c.network == network)
        if statuses is not None:
            q = q.where(t.c.status.in_(list(statuses)))
        if start is not None:
            q = q.where(t.c.created >= start)
        if end is not None:
            q = q.where(t.c.created <= end)
        q = q.order_by(t.c.created.desc(), t.c.id.desc()).limit(max(1, min(limit, 1000)))
        with self.db.begin() as conn:
            return [_deposit(r) for r in conn.execute(q).mappings()]

    # --- withdrawals ---------------------------------------------------------------------------
    def withdrawal_info(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The chain's rows for these withdrawal ids (txid, block, confirmations, status)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        t = wt.chain_withdrawals
        out: dict[int, dict[str, Any]] = {}
        with self.db.begin() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                for r in conn.execute(select(t).where(t.c.withdrawal_id.in_(chunk))).mappings():
                    out[r["withdrawal_id"]] = dict(r)
        return out

    def rebroadcast(self, withdrawal_id: int) -> bool:
        """Let a stuck transaction through (an operator's fee bump): it will confirm."""
        t = wt.chain_withdrawals
        with self._lock, self.db.begin() as conn:
            res = conn.execute(
                update(t)
                .where(t.c.withdrawal_id == withdrawal_id, t.c.outcome == "STUCK")
                .values(outcome="OK", updated=self.clock())
            )
            return bool(res.rowcount)

    # --- block clock ---------------------------------------------------------------------------
    def _load_height(self) -> int:
        t = wt.chain_state
        with self.db.begin() as conn:
            h = conn.execute(select(t.c.value).where(t.c.key == "height")).scalar()
        return int(h or 0)

    @staticmethod
    def _save_height(conn: Any, height: int) -> None:
        t = wt.chain_state
        res = conn.execute(update(t).where(t.c.key == "height").values(value=height))
        if not res.rowcount:
            conn.execute(insert(t).values(key="height", value=height))

    def advance(self, blocks: int = 1) -> BlockReport:
        """Mine ``blocks`` blocks (at most ``MAX_ADVANCE``) and process what they confirm."""
        report = BlockReport()
        with self._lock:
            remaining = max(0, min(blocks, MAX_ADVANCE))
            while remaining > 0:
                self._mine(report)
                remaining -= 1
                if remaining and not self._busy():
                    # nothing in flight: the remaining blocks are empty, mine them at once
                    self.height += remaining
                    with self.db.begin() as conn:
                        self._save_height(conn, self.height)
                    remaining = 0
            report.height = self.height
        return report

    def _busy(self) -> bool:
        """Whether anything waits for a block: a deposit to confirm, a transaction to include
        or confirm (not a stuck one), a signed one to announce, or a withdrawal to broadcast."""
        d, w = wt.chain_deposits, wt.chain_withdrawals
        with self.db.begin() as conn:
            if conn.execute(select(d.c.id).where(d.c.status == "PENDING").limit(1)).first():
                return True
            if conn.execute(
                select(w.c.withdrawal_id)
                .where(
                    (w.c.status == "SIGNED")
                    | (
                        (w.c.status == "BROADCAST")
                        & ((w.c.outcome != "STUCK") | w.c.block.is_not(None))
                    )
                )
                .limit(1)
            ).first():
                return True

        def pending(e: Any) -> bool:
            return any(x.status is WithdrawalStatus.PENDING for x in e.wallet.withdrawals.values())

        return bool(self.engine.read(pending))

    def start(self, *, max_blocks: int | None = None) -> Chain:
        """Mine a block every ``block_interval`` seconds in a daemon thread until ``stop()``."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(max_blocks,), name="bourse-chain", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, max_blocks: int | None) -> None:
        mined = 0
        while not self._stop.wait(self.block_interval):
            try:
                self.advance(1)
            except Exception:  # the clock keeps ticking; the next block retries
                log.exception("mining block %d failed", self.height + 1)
            mined += 1
            if max_blocks is not None and mined >= max_blocks:
                return

    # --- one block -----------------------------------------------------------------------------
    def _mine(self, report: BlockReport) -> None:
        height = self.height + 1
        now = self.clock()
        d, w = wt.chain_deposits, wt.chain_withdrawals
        with self.db.begin() as conn:
            self._save_height(conn, height)
            conn.execute(
                update(d)
                .where(d.c.block.is_(None))
                .values(block=height, confirmations=1, updated=now)
            )
            conn.execute(
                update(w)
                .where(w.c.block.is_(None), w.c.status == "BROADCAST", w.c.outcome != "STUCK")
                .values(block=height, confirmations=1, updated=now)
            )
        self.height = height
        self._confirm_deposits(height, report)
        self._confirm_withdrawals(height, report)
        self._recover_signed(report)
        self._broadcast(report)

    def _execute(self, command: c.Command) -> Any:
        return self.engine.execute(command, timeout=self.command_timeout)

    def _matured(self, table: Any, status: str, order_by: Any, height: int, now: int) -> list:
        """Count confirmations of ``table``'s mined rows in ``status`` at ``height``; return
        (at most ``max_per_block`` of) those that now have the confirmations they need."""
        col = table.c
        with self.db.begin() as conn:
            conn.execute(
                update(table)
                .where(col.status == status, col.block.is_not(None))
                .values(confirmations=height - col.block + 1, updated=now)
            )
            ready = (
                select(table)
                .where(
                    col.status == status,
                    col.block.is_not(None),
                    col.confirmations >= col.required,
                )
                .order_by(order_by)
                .limit(self.max_per_block)
            )
            return list(conn.execute(ready).mappings().all())

    def _confirm_deposits(self, height: int, report: BlockReport) -> None:
        d = wt.chain_deposits
        now = self.clock()
        for row in self._matured(d, "PENDING", d.c.id, height, now):
            dep = _deposit(row)
            conf = dep.confirmations
            assert dep.account is not None
            try:
                self._execute(c.CreditDeposit(dep.account, dep.coin, dep.amount, dep.tx_ref))
            except DomainError as exc:  # e.g. the asset was removed: stays pending, logged
                report.errors.append(f"deposit {dep.tx_ref}: {exc}")
                log.warning("deposit %s not credited: %s", dep.tx_ref, exc)
                continue
            except Exception as exc:  # engine unavailable: the next block retries
                report.errors.append(f"deposit {dep.tx_ref}: {exc}")
                log.warning("deposit %s not credited yet: %s", dep.tx_ref, exc)
                continue
            # credited now or already before (CreditDeposit is idempotent by tx_ref)
            with self.db.begin() as conn:
                conn.execute(
                    update(d)
                    .where(d.c.id == dep.id)
                    .values(status="SUCCESS", credited=True, confirmations=conf, updated=now)
                )
            report.credited += 1

    def _confirm_withdrawals(self, height: int, report: BlockReport) -> None:
        w = wt.chain_withdrawals
        now = self.clock()
        for row in self._matured(w, "BROADCAST", w.c.withdrawal_id, height, now):
            wid, txid = row["withdrawal_id"], row["txid"]
            conf = row["confirmations"]
            ok = row["outcome"] == "OK"
            command: c.Command = (
                c.SettleWithdrawal(wid, txid) if ok else c.VoidWithdrawal(wid, failed=True)
            )
            try:
                self._execute(command)
                final = "CONFIRMED" if ok else "FAILED"
            except DomainError as exc:
                final = self._final_status(wid)  # already told before a crash?
                if final is None:
                    report.errors.append(f"withdrawal {wid}: {exc}")
                    log.warning("withdrawal %d not finalised: %s", wid, exc)
                    continue
            except Exception as exc:
                report.errors.append(f"withdrawal {wid}: {exc}")
                log.warning("withdrawal %d not finalised yet: %s", wid, exc)
                continue
            with self.db.begin() as conn:
                conn.execute(
                    update(w)
                    .where(w.c.withdrawal_id == wid)
                    .values(status=final, confirmations=conf, updated=now)
                )
            if final == "CONFIRMED":
                report.settled += 1
            else:
                report.failed += 1

    def _final_status(self, wid: int) -> str | None:
        """The chain status matching the engine's final state of ``wid``, if it is final."""
        stored: Withdrawal | None = self.engine.store.get_withdrawal(wid)
        if stored is None or stored.status not in FINAL_WITHDRAWAL:
            return None
        return {
            WithdrawalStatus.SUCCESS: "CONFIRMED",
            WithdrawalStatus.FAILED: "FAILED",
        }.get(stored.status, "ABORTED")

    def _open_withdrawal(self, wid: int) -> Withdrawal | None:
        return self.engine.read(lambda e: copy.copy(e.wallet.withdrawals.get(wid)))

    def _recover_signed(self, report: BlockReport) -> None:
        """Rows signed but not acknowledged as broadcast (a crash, or a cancel that won)."""
        w = wt.chain_withdrawals
        with self.db.begin() as conn:
            rows = conn.execute(
                select(w.c.withdrawal_id, w.c.txid)
                .where(w.c.status == "SIGNED")
                .order_by(w.c.withdrawal_id)
                .limit(self.max_per_block)
            ).all()
        for wid, txid in rows:
            self._tell_broadcast(wid, txid, report)

    def _broadcast(self, report: BlockReport) -> None:
        limit = self.max_per_block

        def pending(e: Any) -> list[Withdrawal]:
            out = []
            for wd in e.wallet.withdrawals.values():
                if wd.status is WithdrawalStatus.PENDING:
                    out.append(copy.copy(wd))
            out.sort(key=lambda x: x.id)
            return out[:limit]

        w = wt.chain_withdrawals
        for wd in self.engine.read(pending):
            with self.db.begin() as conn:
                known = conn.execute(
                    select(w.c.txid, w.c.status).where(w.c.withdrawal_id == wd.id)
                ).first()
            if known is not None:
                if known[1] == "SIGNED":
                    self._tell_broadcast(wd.id, known[0], report)
                continue
            asset = self.engine.read(lambda e, code=wd.asset: e.wallet.assets.get(code))
            net = self.config.by_id(asset, wd.network) if asset is not None else None
            style = net.style if net is not None else "plain"
            raw = hmac.new(self.secret, f"withdraw|{wd.id}".encode(), hashlib.sha256).digest()
            r = self._rng.random()
            outcome = (
                "FAIL"
                if r < self.failure_rate
                else "STUCK"
                if r < self.failure_rate + self.stuck_rate
                else "OK"
            )
            now = self.clock()
            try:
                with self.db.begin() as conn:
                    conn.execute(
                        insert(w).values(
                            withdrawal_id=wd.id,
                            network=wd.network,
                            coin=wd.asset,
                            txid=_txid(style, raw),
                            block=None,
                            confirmations=0,
                            required=net.confirmations if net is not None else 1,
                            outcome=outcome,
                            status="SIGNED",
                            created=now,
                            updated=now,
                        )
                    )
            except IntegrityError:
                continue
            self._tell_broadcast(wd.id, _txid(style, raw), report)

    def _tell_broadcast(self, wid: int, txid: str, report: BlockReport) -> None:
        """Tell the engine a signed transaction is out; record what the engine says."""
        w = wt.chain_withdrawals
        status: str | None
        try:
            self._execute(c.MarkWithdrawalProcessing(wid, txid))
            status = "BROADCAST"
            report.broadcast += 1
        except DomainError:
            cur = self._open_withdrawal(wid)
            if cur is not None and cur.status is WithdrawalStatus.PROCESSING and cur.txid == txid:
                status = "BROADCAST"  # told before a crash
            elif cur is not None:
                status = None  # back in review? leave it signed, try again later
            else:
                final = self._final_status(wid)
                # cancelled before the broadcast reached the engine: nothing went out
                status = "ABORTED" if final in (None, "ABORTED") else final
        except Exception as exc:
            report.errors.append(f"withdrawal {wid}: {exc}")
            log.warning("withdrawal %d broadcast not acknowledged yet: %s", wid, exc)
            return
        if status is None:
            return
        with self.db.begin() as conn:
            conn.execute(
                update(w)
                .where(w.c.withdrawal_id == wid, w.c.status == "SIGNED")
                .values(status=status, updated=self.clock())
            )


def chain_secret(server_key: bytes) -> bytes:
    """The chain's address secret, derived from the server key (so addresses survive restarts
    and differ between installations, and the server key itself is never used directly)."""
    return hmac.new(server_key, b"bourse/sandbox-chain/v1", hashlib.sha256).digest()
