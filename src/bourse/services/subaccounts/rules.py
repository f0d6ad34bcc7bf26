"""Sub-account rules and values: quotas, markup caps, names, notes, fund passwords, and the
``Tenant`` / ``SubAccount`` records every operation passes around."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher

from bourse.domain.errors import InvalidParameter
from bourse.services.apikeys import MAX_IPS_PER_KEY
from bourse.services.subaccounts.errors import (
    MarkupOutOfRange,
    SubAccountNameEmpty,
    SubAccountNameInvalid,
    SubAccountNoteEmpty,
)

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


def check_note(note: str | None) -> str:
    note = (note or "").strip()
    if not note:
        raise SubAccountNoteEmpty()
    if len(note) > MAX_NOTE:
        raise InvalidParameter(f"note is longer than {MAX_NOTE} characters")
    return note


def hash_password(password: str) -> str:
    """The stored hash of a fund password (an MD5 hex string, as MEXC sends it)."""
    if not _MD5.fullmatch(password):
        raise InvalidParameter("password must be an MD5 hex string")
    return str(hasher().hash(password.lower()))


def check_markup(tenant: Tenant, maker_ppm: int, taker_ppm: int) -> None:
    for v in (maker_ppm, taker_ppm):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= tenant.max_markup_ppm:
            raise MarkupOutOfRange(
                f"markup must be between 0 and {tenant.max_markup_ppm} ppm on each side"
            )


def hasher() -> Any:
    """The fund-password hasher (cheap argon2: the input is already an MD5)."""
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
