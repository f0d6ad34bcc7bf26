"""Sub-accounts: an independent broker's users (MEXC broker API section 1.2-1.6) and MEXC's
normal sub-accounts (section 2.9), over one service.

A **tenant** is a master account and the sub-accounts under it. For the broker API the master
is the main account of an APPROVED ``INDEPENDENT`` broker (``tenant_for_broker``); for the
normal API any user or broker master account (``tenant_for_master``). Every operation takes the
tenant first and finds sub-accounts **by name inside that tenant only**, so a name of another
tenant's sub-account is simply "sub account does not exist" (140001): tenant isolation is not a
check that can be forgotten, it is how names resolve.

* **Accounts**: ``create`` opens a ``BROKER_SUB`` account whose parent is the master (engine
  ``OpenAccount``) and records its name (MEXC rule: 8 to 32 letters and digits, unique per
  master) and note. Quota per master: ``NORMAL_QUOTA`` (30, MEXC's figure) for plain users,
  ``BROKER_QUOTA`` (1000, Binance's ``maxSubAccountQty`` example) for independent brokers;
  an operator can override both per master (``set_quota``).
* **Status**: ``set_frozen`` goes through the engine's ``SetAccountFrozen`` (freezing cancels the
  sub-account's open orders; a frozen account cannot trade, transfer or withdraw).
* **Fees**: a sub-account pays its master's maker/taker rates plus an optional markup the
  broker sets per sub-account (``set_markup``), at most ``max_markup_ppm`` (default 2000 ppm =
  0.2 %) on each side, never negative. The rates are written with ``SetFees`` when the
  sub-account is created and whenever its markup changes; ``refresh_fees`` re-applies them
  to every sub-account of a tenant after the master's own rates change.
* **API keys**: through ``platform.apikeys`` with the user-key rules (permission names,
  90-day expiry without IPs, 30 keys per account) plus MEXC's broker limit of 4 IPs per key.
* **Transfers**: master <-> sub and sub <-> sub through the engine's ``Transfer`` with the
  master as the idempotency namespace of ``clientTranId``; SPOT and FUTURES wallets (FUTURES of
  a sub-account only once futures are enabled).
* **Deposits and withdrawals** of a sub-account go through ``platform.wallet`` with the
  sub-account's own key (the MEXC endpoints take no ``subAccount`` parameter).

Amounts are integer units; parsing wire strings is the API layer's job.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from bourse.domain.accounts import AccountKind
from bourse.domain.brokers import BrokerStatus, BrokerType
from bourse.domain.errors import DomainError, InvalidParameter, TransferNotAllowed
from bourse.domain.fees import RATE_DENOM
from bourse.engine import commands as c
from bourse.services.apikeys import MAX_IPS_PER_KEY, normalize_permission
from bourse.store import subaccount_tables as st

#: MEXC: "up to 30 sub-accounts per main account"
NORMAL_QUOTA = 30
#: independent brokers get more (MEXC: by contract; Binance's example maxSubAccountQty is 1000)
BROKER_QUOTA = 1000
#: the largest markup a broker may add on each of maker and taker (ppm of the amount received)
MAX_MARKUP_PPM = 2_000
#: MEXC: a broker sub-account key takes up to 4 IPs; a normal sub-account key "up to 20", but
#: every key is capped by the platform's 10 (MEXC FAQ, error 730703)
BROKER_KEY_IPS = 4
NORMAL_KEY_IPS = min(20, MAX_IPS_PER_KEY)
MAX_NOTE = 128
ACCOUNT_TYPES = ("SPOT", "FUTURES")
_NAME = re.compile(r"[A-Za-z0-9]{8,32}")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


# --- errors (their MEXC codes: ``bourse.api.mexc.errors.TABLE``) -----------------------------------
class SubAccountError(DomainError):
    """Sub-account operation refused."""


class NotABroker(SubAccountError):
    """No authority: the calling account is not an independent broker's master account."""


class BrokerNotActive(SubAccountError):
    """The broker is not an approved independent broker."""


class SubAccountNameEmpty(SubAccountError):
    """sub-account name cannot be empty"""


class SubAccountNameInvalid(SubAccountError):
    """sub-account name must be 8 to 32 letters and digits"""


class SubAccountNoteEmpty(SubAccountError):
    """sub-account note cannot be empty"""


class SubAccountExists(SubAccountError):
    """user name already exists"""


class SubAccountNotFound(SubAccountError):
    """sub account does not exist"""


class SubAccountFrozen(SubAccountError):
    """sub account is forbidden"""


class SubAccountQuotaExceeded(SubAccountError):
    """the sub-account limit of this account is reached"""


class SubAccountOnly(SubAccountError):
    """this endpoint is for sub-account API keys only"""


class KeyNoteEmpty(SubAccountError):
    """note cannot be empty"""


class KeyPermissionEmpty(SubAccountError):
    """permission cannot be empty"""


class KeyPermissionUnknown(SubAccountError):
    """permission does not exist"""


class KeyTooManyIps(SubAccountError):
    """too many IPs"""


class KeyBadIp(SubAccountError):
    """IP format error"""


class KeyLimitReached(SubAccountError):
    """at most 30 API keys per account"""


class KeyNotFound(SubAccountError):
    """API key not found"""


class KeyAccessKeyEmpty(SubAccountError):
    """apiKey cannot be empty"""


class KeyPermissionNotHeld(SubAccountError):
    """A key cannot grant permissions its creator does not have."""


class WrongFundPassword(SubAccountError):
    """fund password is wrong"""


class MarkupOutOfRange(InvalidParameter):
    """fee markup is out of the allowed range"""


# --- values ------------------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Tenant:
    """A master account and the rules for its sub-accounts."""

    master: int
    broker_id: int | None
    quota: int
    max_markup_ppm: int

    @property
    def max_key_ips(self) -> int:
        return BROKER_KEY_IPS if self.broker_id is not None else NORMAL_KEY_IPS


@dataclass(frozen=True, slots=True)
class SubAccount:
    account_id: int
    master: int
    broker_id: int | None
    name: str
    note: str
    futures: bool
    maker_markup: int
    taker_markup: int
    has_password: bool
    created: int
    frozen: bool


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise SubAccountNameEmpty()
    if not _NAME.fullmatch(name):
        raise SubAccountNameInvalid()
    return name


def _retry_busy(fn: Any, attempts: int = 8) -> Any:
    """``fn()`` retried when SQLite refuses a read-then-write transaction because another
    writer committed first ("database is locked"; ``ApiKeys.create_key`` reads the key count
    before it inserts). Bounded; any other error, or the last one, propagates."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.005 * (attempt + 1) * (1 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class SubAccounts:
    """The sub-account service of one platform (``subaccounts_of(platform)``)."""

    def __init__(self, platform: Any, *, clock: Any = now_ms) -> None:
        self.platform = platform
        self.db = platform.db
        self.engine = platform.engine
        self.clock = clock
        self._create_lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._sub_broker: dict[int, int | None] = {}

    # --- tenants -------------------------------------------------------------------------------
    def _limits(self, master: int, broker: bool) -> tuple[int, int]:
        q = st.subaccount_quotas.c
        with self.db.connect() as conn:
            row = conn.execute(
                select(q.max_subaccounts, q.max_markup_ppm).where(q.master_account_id == master)
            ).first()
        if row is not None:
            return int(row[0]), int(row[1])
        return (BROKER_QUOTA if broker else NORMAL_QUOTA), MAX_MARKUP_PPM

    def tenant_for_broker(self, account_id: int) -> Tenant:
        """The tenant of the broker whose main account is ``account_id`` (broker API)."""
        from bourse.services.brokers import brokers_of

        broker = brokers_of(self.platform).registry.by_account(account_id)
        if broker is None:
            raise NotABroker("No authority")
        if broker.type is not BrokerType.INDEPENDENT or broker.status is not BrokerStatus.APPROVED:
            raise BrokerNotActive(
                f"broker {broker.id} is not an approved independent broker ({broker.status})"
            )
        quota, markup = self._limits(account_id, True)
        return Tenant(account_id, broker.id, quota, markup)

    def tenant_for_master(self, account_id: int) -> Tenant:
        """The tenant of any user or broker master account (MEXC's normal sub-account API);
        an approved independent broker gets its broker quota."""
        acc = self.engine.read(lambda e: e.wallet.accounts.get(account_id))
        if acc is None or acc.kind not in (AccountKind.USER, AccountKind.BROKER_MASTER):
            raise SubAccountOnly("a sub-account cannot have sub-accounts")
        from bourse.services.brokers import brokers_of

        broker = brokers_of(self.platform).registry.by_account(account_id)
        if broker is not None and broker.type is BrokerType.INDEPENDENT:
            # an independent broker's sub-accounts are its broker's, suspended or not
            return self.tenant_for_broker(account_id)
        quota, markup = self._limits(account_id, False)
        return Tenant(account_id, None, quota, markup)

    def set_quota(
        self, master: int, max_subaccounts: int, max_markup_ppm: int = MAX_MARKUP_PPM
    ) -> None:
        """Operator: override a master account's sub-account quota and markup cap."""
        if not 0 <= max_subaccounts <= 1_000_000 or not 0 <= max_markup_ppm <= RATE_DENOM:
            raise InvalidParameter("quota or markup cap out of range")
        from bourse.services.brokers._util import upsert

        with self.db.begin() as conn:
            upsert(
                conn,
                st.subaccount_quotas,
                ["master_account_id"],
                {
                    "master_account_id": master,
                    "max_subaccounts": max_subaccounts,
                    "max_markup_ppm": max_markup_ppm,
                },
            )

    # --- reading -------------------------------------------------------------------------------
    def _frozen(self, ids: list[int]) -> dict[int, bool]:
        def look(e: Any) -> dict[int, bool]:
            return {i: bool(e.wallet.accounts[i].frozen) for i in ids if i in e.wallet.accounts}

        return self.engine.read(look)

    def _rows_to_subs(self, rows: list[Any]) -> list[SubAccount]:
        frozen = self._frozen([int(r.account_id) for r in rows])
        return [
            SubAccount(
                int(r.account_id),
                int(r.master_account_id),
                None if r.broker_id is None else int(r.broker_id),
                r.name,
                r.note,
                bool(r.futures),
                int(r.maker_markup),
                int(r.taker_markup),
                r.password_hash is not None,
                int(r.created),
                frozen.get(int(r.account_id), False),
            )
            for r in rows
        ]

    def get(self, tenant: Tenant, name: str | None) -> SubAccount:
        """The tenant's sub-account called ``name`` (140001 for any other name)."""
        s = st.subaccounts.c
        name = (name or "").strip()
        if not name:
            raise SubAccountNameEmpty()
        with self.db.connect() as conn:
            row = conn.execute(
                select(st.subaccounts).where(s.master_account_id == tenant.master, s.name == name)
            ).first()
        if row is None:
            raise SubAccountNotFound(f"sub account {name[:40]!r} does not exist")
        return self._rows_to_subs([row])[0]

    def by_account(self, account_id: int) -> SubAccount | None:
        """The sub-account record of ``account_id`` (None if it is not a sub-account)."""
        with self.db.connect() as conn:
            row = conn.execute(
                select(st.subaccounts).where(st.subaccounts.c.account_id == account_id)
            ).first()
        return None if row is None else self._rows_to_subs([row])[0]

    def count(self, tenant: Tenant) -> int:
        s = st.subaccounts.c
        with self.db.connect() as conn:
            n = conn.execute(
                select(func.count()).where(s.master_account_id == tenant.master)
            ).scalar_one()
        return int(n)

    def list(
        self,
        tenant: Tenant,
        *,
        name: str | None = None,
        frozen: bool | None = None,
        page: int = 1,
        limit: int = 10,
    ) -> list[SubAccount]:
        """The tenant's sub-accounts, oldest first, one page (``frozen`` filters after paging
        of the id-ordered list would skip rows, so it filters first)."""
        s = st.subaccounts.c
        q = select(st.subaccounts).where(s.master_account_id == tenant.master)
        if name:
            q = q.where(s.name == name.strip())
        q = q.order_by(s.created, s.account_id)
        page, limit = max(1, page), max(1, min(limit, 200))
        if frozen is None:
            with self.db.connect() as conn:
                rows = conn.execute(q.offset((page - 1) * limit).limit(limit)).all()
            return self._rows_to_subs(list(rows))
        with self.db.connect() as conn:
            rows = conn.execute(q.limit(BROKER_QUOTA * 10)).all()
        subs = [x for x in self._rows_to_subs(list(rows)) if x.frozen is frozen]
        return subs[(page - 1) * limit : page * limit]

    def master_rates(self, tenant: Tenant) -> tuple[int, int]:
        return self.engine.read(lambda e: e.exchange.fees.rates(tenant.master))

    def rates(self, tenant: Tenant, sub: SubAccount) -> tuple[int, int]:
        """The (maker, taker) ppm a sub-account pays: the master's plus its markup."""
        m, t = self.master_rates(tenant)
        return min(m + sub.maker_markup, RATE_DENOM), min(t + sub.taker_markup, RATE_DENOM)

    # --- creating ------------------------------------------------------------------------------
    def create(
        self, tenant: Tenant, name: str | None, note: str | None, password: str | None = None
    ) -> SubAccount:
        """Open a sub-account under the tenant's master account."""
        name = check_name(name)
        note = (note or "").strip()
        if not note:
            raise SubAccountNoteEmpty()
        if len(note) > MAX_NOTE:
            raise InvalidParameter(f"note is longer than {MAX_NOTE} characters")
        pw_hash = None
        if password:
            if not _MD5.fullmatch(password):
                raise InvalidParameter("password must be an MD5 hex string")
            pw_hash = _hasher().hash(password.lower())
        s = st.subaccounts.c
        with self._create_lock:  # one creation at a time: the quota and name checks hold
            with self.db.connect() as conn:
                taken = conn.execute(
                    select(s.account_id).where(s.master_account_id == tenant.master, s.name == name)
                ).first()
            if taken is not None:
                raise SubAccountExists(f"sub-account {name!r} already exists")
            if self.count(tenant) >= tenant.quota:
                raise SubAccountQuotaExceeded(
                    f"at most {tenant.quota} sub-accounts per master account"
                )
            master = self.engine.read(lambda e: e.wallet.accounts.get(tenant.master))
            if master is None:
                raise SubAccountOnly("the master account does not exist")
            if master.frozen:
                raise SubAccountFrozen("the master account is frozen")
            acc = self.engine.execute(
                c.OpenAccount(AccountKind.BROKER_SUB, tenant.master, f"sub:{name}")
            )
            now = self.clock()
            try:
                with self.db.begin() as conn:
                    conn.execute(
                        insert(st.subaccounts).values(
                            account_id=acc.id,
                            master_account_id=tenant.master,
                            broker_id=tenant.broker_id,
                            name=name,
                            note=note,
                            futures=False,
                            maker_markup=0,
                            taker_markup=0,
                            password_hash=pw_hash,
                            created=now,
                        )
                    )
            except IntegrityError:  # another process took the name: the bare account is unused
                raise SubAccountExists(f"sub-account {name!r} already exists") from None
        sub = self.get(tenant, name)
        self._apply_fees(tenant, sub)
        return sub

    # --- status, futures, fees -----------------------------------------------------------------
    def set_frozen(self, tenant: Tenant, name: str, frozen: bool) -> SubAccount:
        """Freeze (open orders are cancelled) or unfreeze a sub-account."""
        sub = self.get(tenant, name)
        self.engine.execute(c.SetAccountFrozen(sub.account_id, frozen))
        return self.get(tenant, name)

    def enable_futures(self, tenant: Tenant, name: str) -> SubAccount:
        sub = self.get(tenant, name)
        with self.db.begin() as conn:
            conn.execute(
                update(st.subaccounts)
                .where(st.subaccounts.c.account_id == sub.account_id)
                .values(futures=True)
            )
        return self.get(tenant, name)

    def set_markup(self, tenant: Tenant, name: str, maker_ppm: int, taker_ppm: int) -> SubAccount:
        """Set a sub-account's fee markup (ppm on each side, within the tenant's cap)."""
        for v in (maker_ppm, taker_ppm):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= tenant.max_markup_ppm:
                raise MarkupOutOfRange(
                    f"markup must be between 0 and {tenant.max_markup_ppm} ppm on each side"
                )
        sub = self.get(tenant, name)
        with self.db.begin() as conn:
            conn.execute(
                update(st.subaccounts)
                .where(st.subaccounts.c.account_id == sub.account_id)
                .values(maker_markup=maker_ppm, taker_markup=taker_ppm)
            )
        sub = self.get(tenant, name)
        self._apply_fees(tenant, sub)
        return sub

    def _apply_fees(self, tenant: Tenant, sub: SubAccount) -> tuple[int, int]:
        maker, taker = self.rates(tenant, sub)
        self.engine.execute(c.SetFees(sub.account_id, maker, taker))
        return maker, taker

    def refresh_fees(self, tenant: Tenant, max_rows: int = 100_000) -> int:
        """Re-apply master rates + markup to every sub-account (after the master's rates
        changed); returns how many were updated."""
        s = st.subaccounts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(st.subaccounts).where(s.master_account_id == tenant.master).limit(max_rows)
            ).all()
        subs = self._rows_to_subs(list(rows))
        for sub in subs:
            self._apply_fees(tenant, sub)
        return len(subs)

    # --- API keys ------------------------------------------------------------------------------
    def create_key(
        self,
        tenant: Tenant,
        name: str,
        permissions: str | None,
        ip: str | None,
        note: str | None,
        *,
        creator_permissions: frozenset[str] | None = None,
        ttl_ms: int | None = None,
    ) -> dict[str, Any]:
        """A key for the sub-account; returns its public fields plus ``secretKey`` (once)."""
        from bourse.services.apikeys import NO_IP_TTL_MS

        sub = self.get(tenant, name)
        note = (note or "").strip()
        if not note:
            raise KeyNoteEmpty()
        names = [x.strip() for x in (permissions or "").split(",") if x.strip()]
        if not names:
            raise KeyPermissionEmpty()
        perms: list[str] = []
        for n in names:
            try:
                perms.append(normalize_permission(n))
            except DomainError:
                raise KeyPermissionUnknown(f"permission {n[:40]!r} does not exist") from None
        perms = sorted(set(perms))
        if creator_permissions is not None and not set(perms) <= set(creator_permissions):
            raise KeyPermissionNotHeld()
        ips = list(dict.fromkeys(x.strip() for x in (ip or "").split(",") if x.strip()))
        if len(ips) > tenant.max_key_ips:
            raise KeyTooManyIps(f"at most {tenant.max_key_ips} IPs per sub-account key")
        for x in ips:
            try:
                ipaddress.ip_network(x, strict=False)
            except ValueError:
                raise KeyBadIp(f"invalid IP address {x[:64]!r}") from None
        now = self.clock()
        expires = None if ips else now + (ttl_ms or NO_IP_TTL_MS)
        try:
            key, secret = self._locked_retry(
                lambda: self.platform.apikeys.create_key(
                    sub.account_id, perms, label=note, ip_whitelist=ips, expires=expires, now_ms=now
                )
            )
        except InvalidParameter as exc:
            if "API keys per account" in exc.message:
                raise KeyLimitReached(exc.message) from None
            raise
        return {
            "subAccount": sub.name,
            "note": note,
            "permissions": ",".join(perms),
            "ip": ",".join(ips),
            "apiKey": key,
            "secretKey": secret,
            "createTime": now,
            "expireTime": expires,
        }

    def _locked_retry(self, fn: Any) -> Any:
        with self._key_lock:  # one key creation at a time in this process (SQLite: one writer)
            return _retry_busy(fn)

    def list_keys(self, tenant: Tenant, name: str) -> tuple[SubAccount, list[dict[str, Any]]]:
        sub = self.get(tenant, name)
        return sub, self.platform.apikeys.list_keys(sub.account_id)

    def delete_key(self, tenant: Tenant, name: str, api_key: str | None) -> SubAccount:
        sub = self.get(tenant, name)
        if not (api_key or "").strip():
            raise KeyAccessKeyEmpty()
        if not self.platform.apikeys.delete_key(api_key.strip(), sub.account_id):
            raise KeyNotFound()
        from bourse.services.brokers import brokers_of

        brokers_of(self.platform).bindings.on_key_deleted(api_key.strip())
        return sub

    # --- transfers -----------------------------------------------------------------------------
    def _side(self, tenant: Tenant, name: str | None, wallet_type: str) -> tuple[int, int]:
        """(owner account, ledger account) for a transfer side; no name is the master."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type not in ACCOUNT_TYPES:
            raise TransferNotAllowed(f"account type {wallet_type!r} is not supported")
        if name:
            sub = self.get(tenant, name)
            if sub.frozen:
                raise SubAccountFrozen(f"sub account {sub.name!r} is frozen")
            if wallet_type == "FUTURES" and not sub.futures:
                raise TransferNotAllowed(f"futures are not enabled for {sub.name!r}")
            owner = sub.account_id
        else:
            owner = tenant.master
        ledger = self.platform.wallet.wallet_account(owner, wallet_type)
        return owner, ledger

    def transfer(
        self,
        tenant: Tenant,
        from_name: str | None,
        to_name: str | None,
        from_type: str,
        to_type: str,
        asset: str,
        amount: int,
        client_id: str = "",
    ) -> int:
        """Move ``amount`` units master <-> sub or sub <-> sub; returns the transfer id. A retry
        with the same ``client_id`` (in the master's namespace) moves nothing twice."""
        src_owner, src = self._side(tenant, from_name, from_type)
        dst_owner, dst = self._side(tenant, to_name, to_type)
        if src == dst:
            raise TransferNotAllowed("cannot transfer to the same account")
        code = self.platform.wallet.asset(asset).code
        return self.engine.execute(
            c.Transfer(src, dst, code, amount, client_id=client_id, initiator=tenant.master)
        )

    def _ledgers(self, tenant: Tenant, name: str | None, wallet_type: str) -> list[int] | None:
        """Ledger accounts matched by a history side (``*``: master and every sub-account)."""
        wallet_type = (wallet_type or "").upper()
        if wallet_type not in ACCOUNT_TYPES:
            raise TransferNotAllowed(f"account type {wallet_type!r} is not supported")
        if name == "*":
            owners = [tenant.master] + [s.account_id for s in self.all(tenant)]
        elif name:
            owners = [self.get(tenant, name).account_id]
        else:
            owners = [tenant.master]
        wallet = self.platform.wallet
        out = []
        for o in owners:
            ledger = wallet.wallet_account(o, wallet_type, create=False)
            if ledger is not None:
                out.append(ledger)
        return out

    def all(self, tenant: Tenant) -> list[SubAccount]:
        s = st.subaccounts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(st.subaccounts)
                .where(s.master_account_id == tenant.master)
                .order_by(s.created, s.account_id)
                .limit(BROKER_QUOTA * 10)
            ).all()
        return self._rows_to_subs(list(rows))

    def names(self, tenant: Tenant) -> dict[int, str]:
        """account id -> sub-account name, for the tenant's master and sub-accounts (the
        master's name is the empty string)."""
        s = st.subaccounts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(s.account_id, s.name).where(s.master_account_id == tenant.master)
            ).all()
        out = {int(r[0]): r[1] for r in rows}
        out[tenant.master] = ""
        return out

    def transfer_history(
        self,
        tenant: Tenant,
        from_name: str | None,
        to_name: str | None,
        from_type: str,
        to_type: str,
        *,
        start: int | None = None,
        end: int | None = None,
        page: int = 1,
        limit: int = 500,
        client_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Transfers between the two sides, newest first, as dicts with owner names."""
        src = self._ledgers(tenant, from_name, from_type)
        dst = self._ledgers(tenant, to_name, to_type)
        if not src or not dst:
            return []
        wallet = self.platform.wallet
        rows, _ = wallet.transfers(
            from_accounts=src,
            to_accounts=dst,
            start=start,
            end=end,
            client_id=client_id,
            page=page,
            size=max(1, min(limit, 500)),
        )
        owners = wallet.wallet_owners({x for r in rows for x in (r.from_account, r.to_account)})
        names = self.names(tenant)
        out = []
        for r in rows:
            f_owner = owners.get(r.from_account, (r.from_account, "SPOT"))[0]
            t_owner = owners.get(r.to_account, (r.to_account, "SPOT"))[0]
            out.append({"view": r, "from": names.get(f_owner, ""), "to": names.get(t_owner, "")})
        return out

    # --- sub-account's own key: deposits and withdrawals ---------------------------------------
    def own(self, account_id: int, *, broker: bool = True) -> SubAccount:
        """The calling sub-account (a sub-account key's endpoints): refused for any account
        that is not a sub-account (of an approved independent broker, with ``broker``)."""
        sub = self.by_account(account_id)
        if sub is None or (broker and sub.broker_id is None):
            raise SubAccountOnly()
        if broker:
            self.tenant_for_broker(sub.master)  # the broker must still be approved
        return sub

    def withdraw(
        self,
        sub: SubAccount,
        coin: str,
        network: str | None,
        address: str,
        amount: int,
        *,
        password: str | None = None,
        remark: str = "",
        client_id: str = "",
    ) -> Any:
        if self._frozen([sub.account_id]).get(sub.account_id):
            raise SubAccountFrozen(f"sub account {sub.name!r} is frozen")
        skip = False
        if password:
            with self.db.connect() as conn:
                stored = conn.execute(
                    select(st.subaccounts.c.password_hash).where(
                        st.subaccounts.c.account_id == sub.account_id
                    )
                ).scalar()
            if stored is None:
                raise WrongFundPassword("no fund password is set for this sub-account")
            try:
                _hasher().verify(stored, password.lower())
            except Exception:
                raise WrongFundPassword() from None
            skip = True
        return self.platform.wallet.withdraw(
            sub.account_id,
            coin,
            network,
            address,
            amount,
            remark=remark,
            skip_whitelist=skip,
            client_id=client_id,
        )

    def deposit_history_all(
        self,
        tenant: Tenant,
        *,
        coin: str | None = None,
        status: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
        page: int = 1,
    ) -> tuple[list[Any], dict[int, str]]:
        """Deposits of every sub-account of the tenant (default window: the last 3 days)."""
        names = self.names(tenant)
        subs = [a for a in names if a != tenant.master]
        if not subs:
            return [], names
        wallet = self.platform.wallet
        if start is None:
            start = (end if end is not None else wallet.clock()) - 3 * 86_400_000
        limit, page = max(1, min(limit, 1000)), max(1, page)
        rows = wallet.deposit_history(
            subs, coin=coin, status=status, start=start, end=end, limit=min(1000, limit * page)
        )
        return rows[(page - 1) * limit : page * limit], names

    # --- attribution ---------------------------------------------------------------------------
    def broker_of(self, account_id: int) -> int | None:
        """The independent broker a sub-account belongs to (None for any other account).

        What the trading layer's attribution hook asks on every order: a non-sub account is
        answered from the engine's account table, a sub-account from a cache (a sub-account
        never changes broker)."""
        if account_id in self._sub_broker:
            return self._sub_broker[account_id]
        # lock-free: a dict lookup is atomic and an account's kind never changes (this is on
        # every order's path, so it must not wait for the engine's batch lock)
        acc = self.engine.wallet.accounts.get(account_id)
        if acc is None or acc.kind is not AccountKind.BROKER_SUB:
            return None
        with self.db.connect() as conn:
            bid = conn.execute(
                select(st.subaccounts.c.broker_id).where(
                    and_(st.subaccounts.c.account_id == account_id)
                )
            ).scalar()
        result = None if bid is None else int(bid)
        if len(self._sub_broker) > 1_000_000:
            self._sub_broker.clear()
        self._sub_broker[account_id] = result
        return result


def subaccounts_of(platform: Any) -> SubAccounts:
    """The platform's ``SubAccounts`` (created on first use and kept on the platform)."""
    existing = getattr(platform, "subaccounts", None)
    if isinstance(existing, SubAccounts):
        return existing
    made = SubAccounts(platform)
    with contextlib.suppress(AttributeError):  # a slotted platform: not cached
        platform.subaccounts = made
    return made


def sub_broker(platform: Any, account_id: int) -> int | None:
    """The attribution hook: the independent broker whose sub-account ``account_id`` is."""
    return subaccounts_of(platform).broker_of(account_id)


# --- demo seeding ------------------------------------------------------------------------------
INDEPENDENT_DEMO_CODE = "demo-independent-broker"


def seed_independent_broker(
    platform: Any,
    account_id: int,
    *,
    name: str = "Demo Independent Broker",
    rate_ppm: int = 300_000,
) -> dict[str, Any]:
    """Register (once) ``account_id`` as an APPROVED INDEPENDENT broker with ``rate_ppm``.

    The caller owns the account, its funds and its API key (the demo's ``independent_broker``
    role, a ``BROKER_MASTER`` account with a full-spot-permission key). Idempotent: a second
    call returns the existing broker (re-approving it if it was suspended).
    Returns ``{"brokerId", "accountId", "code"}``.
    """
    from bourse.services.brokers import brokers_of

    reg = brokers_of(platform).registry
    broker = reg.by_account(account_id)
    if broker is None:
        code = INDEPENDENT_DEMO_CODE if reg.by_source(INDEPENDENT_DEMO_CODE) is None else None
        broker = reg.apply(account_id, "INDEPENDENT", name, code=code, note="seeded for the demo")
    if broker.type is not BrokerType.INDEPENDENT:
        raise InvalidParameter(f"account {account_id} is already a {broker.type} broker")
    if broker.status is BrokerStatus.PENDING:
        reg.set_rate(broker.id, rate_ppm, note="demo")
        broker = reg.approve(broker.id)
    elif broker.status is BrokerStatus.SUSPENDED:
        broker = reg.approve(broker.id)
    return {"brokerId": broker.id, "accountId": broker.account_id, "code": broker.code}


__all__ = [
    "BROKER_QUOTA",
    "MAX_MARKUP_PPM",
    "NORMAL_QUOTA",
    "SubAccount",
    "SubAccounts",
    "Tenant",
    "seed_independent_broker",
    "sub_broker",
    "subaccounts_of",
]
