"""``SimulatedChain``: the sandbox's adapter of the wallet's ``Chain`` port.

It keeps deposit addresses, the payments it has seen and its withdrawal broadcasts in the
database (``ChainRepository``), and has a block clock: ``advance(n)`` mines ``n`` blocks (tests),
or ``start()`` runs a background thread that mines one block every ``block_interval`` seconds
until ``stop()`` (or ``max_blocks``). What a block does is ``blocks.BlockProducer``'s.

``send_deposit(address, memo, coin, network, amount)`` plays the outside world paying an
address; ``failure_rate`` makes some withdrawal transactions fail on chain and ``stuck_rate``
some never get included, until ``rebroadcast(withdrawal_id)`` (an operator's fee bump).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterable

from bourse.domain.errors import InvalidAddress, InvalidParameter
from bourse.domain.money import MAX_UNITS, Asset
from bourse.engine import Engine
from bourse.engine.clock import Clock, now_ms
from bourse.engine.trace import set_origin
from bourse.sandbox.chain.addresses import derive_address, format_txid
from bourse.sandbox.chain.blocks import BlockProducer, BlockReport, deposit_from_row
from bourse.sandbox.chain.networks import ChainConfig
from bourse.services.wallet.chain import (
    ChainDeposit,
    ChainWithdrawal,
    DepositAddress,
    Network,
    listed_asset,
)
from bourse.store.repositories.chain import ChainRepository

log = logging.getLogger("bourse.sandbox.chain")

#: most blocks one ``advance`` call mines
MAX_ADVANCE = 10_000
#: attempts at a fresh memo when a derived one is already taken
_MEMO_ATTEMPTS = 16

_TXID = re.compile(r"(?:0x)?[0-9A-Za-z]{1,126}")


class SimulatedChain:
    """The simulated chain bound to an engine and the database (see the module docstring).

    ``engine``: a ``bourse.engine.Engine`` (started or not); ``repo``: the chain's tables in the
    same database, migrated to head; ``secret``: the server secret addresses derive from.
    """

    def __init__(
        self,
        engine: Engine,
        repo: ChainRepository,
        secret: bytes,
        config: ChainConfig | None = None,
        *,
        block_interval: float = 3.0,
        failure_rate: float = 0.0,
        stuck_rate: float = 0.0,
        seed: int | None = None,
        max_per_block: int = 500,
        command_timeout: float = 30.0,
        clock: Clock = now_ms,
    ) -> None:
        if not 0.0 <= failure_rate + stuck_rate <= 1.0 or failure_rate < 0 or stuck_rate < 0:
            raise ValueError("failure_rate and stuck_rate must be probabilities summing to <= 1")
        self.engine = engine
        self.repo = repo
        self.secret = secret
        self.config = config or ChainConfig()
        self.block_interval = block_interval
        self.clock = clock
        self._blocks = BlockProducer(
            engine,
            repo,
            self.config,
            secret,
            failure_rate=failure_rate,
            stuck_rate=stuck_rate,
            seed=seed,
            max_per_block=max_per_block,
            command_timeout=command_timeout,
            clock=clock,
        )
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.height = repo.height()

    # --- networks ------------------------------------------------------------------------------
    def networks(self, asset: Asset) -> tuple[Network, ...]:
        return self.config.networks(asset)

    def asset(self, coin: str) -> Asset:
        return listed_asset(self.engine, coin)

    def network(self, coin: str, name: str | None) -> Network:
        """A network of ``coin`` by id, display name or alias (``None``: the default one)."""
        return self.config.network(self.asset(coin), name)

    # --- addresses -----------------------------------------------------------------------------
    def deposit_address(self, account: int, network: Network) -> DepositAddress:
        """The account's address on ``network``, created on first use."""
        coin = network.coin
        for attempt in range(_MEMO_ATTEMPTS):
            found = self.repo.address(account, coin, network.id)
            if found is not None:
                return DepositAddress(account, coin, network, found[0], found[1])
            address, memo = derive_address(self.secret, account, coin, network, attempt)
            if self.repo.add_address(account, coin, network.id, address, memo, self.clock()):
                return DepositAddress(account, coin, network, address, memo)
            # created concurrently (re-read) or a memo collision (next attempt)
        raise InvalidParameter("no address available, try later")

    def addresses(self, account: int, asset: Asset) -> list[DepositAddress]:
        """The account's existing addresses for ``asset`` (in the coin's network order)."""
        nets = {n.id: n for n in self.config.networks(asset)}
        found = {r[0]: r for r in self.repo.addresses(account, asset.code) if r[0] in nets}
        return [
            DepositAddress(account, asset.code, nets[nid], found[nid][1], found[nid][2])
            for nid in nets
            if nid in found
        ]

    def owner(self, network: str, coin: str, address: str, memo: str) -> int | None:
        return self.repo.owner(network, coin, address, memo)

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
        txid = txid or format_txid(net.style, secrets.token_bytes(32))
        owner = self.owner(net.id, net.coin, address, memo if net.memo_required else "")
        if owner is None:
            status = "UNKNOWN"
        elif amount < net.deposit_min:
            status = "SMALL"
        else:
            status = "PENDING"
        now = self.clock()
        self.repo.add_deposit(
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
        found = self.deposit(net.id, txid, vout)
        assert found is not None
        return found

    def deposit(self, network: str, txid: str, vout: int = 0) -> ChainDeposit | None:
        row = self.repo.deposit(network, txid, vout)
        return deposit_from_row(row) if row is not None else None

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
        rows = self.repo.deposits(
            accounts,
            coin=coin,
            network=network,
            statuses=statuses,
            start=start,
            end=end,
            limit=limit,
        )
        return [deposit_from_row(r) for r in rows]

    # --- withdrawals ---------------------------------------------------------------------------
    def withdrawal_info(self, ids: Iterable[int]) -> dict[int, ChainWithdrawal]:
        """What the chain did with these withdrawals (txid, block, confirmations, status)."""
        return {r["withdrawal_id"]: ChainWithdrawal(**r) for r in self.repo.withdrawals(ids)}

    def rebroadcast(self, withdrawal_id: int) -> bool:
        """Let a stuck transaction through (an operator's fee bump): it will confirm."""
        with self._lock:
            return self.repo.unstick(withdrawal_id, self.clock())

    # --- block clock ---------------------------------------------------------------------------
    def advance(self, blocks: int = 1) -> BlockReport:
        """Mine ``blocks`` blocks (at most ``MAX_ADVANCE``) and process what they confirm."""
        report = BlockReport()
        with self._lock:
            remaining = max(0, min(blocks, MAX_ADVANCE))
            while remaining > 0:
                self._mine(report)
                remaining -= 1
                if remaining and not self._blocks.busy():
                    # nothing in flight: the remaining blocks are empty, mine them at once
                    self.height += remaining
                    self.repo.save_height(self.height)
                    remaining = 0
            report.height = self.height
        return report

    def _mine(self, report: BlockReport) -> None:
        height = self.height + 1
        self.repo.mine(height, self.clock())
        self.height = height
        self._blocks.process(height, report)

    def start(self, *, max_blocks: int | None = None) -> SimulatedChain:
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
        set_origin("sandbox")  # the simulated chain credits deposits and settles withdrawals
        mined = 0
        while not self._stop.wait(self.block_interval):
            try:
                self.advance(1)
            except Exception:  # the clock keeps ticking; the next block retries
                log.exception("mining block %d failed", self.height + 1)
            mined += 1
            if max_blocks is not None and mined >= max_blocks:
                return
