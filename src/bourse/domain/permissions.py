"""MEXC's API key permission names, the ones a key gets by default, and how a given name is
read (pure: the ``bourse`` command lists them in its help without loading the services)."""

from __future__ import annotations

from bourse.domain.errors import InvalidParameter

#: every permission name MEXC documents for API keys
PERMISSIONS = (
    "SPOT_ACCOUNT_READ",
    "SPOT_ACCOUNT_WRITE",
    "SPOT_DEAL_READ",
    "SPOT_DEAL_WRITE",
    "CONTRACT_ACCOUNT_READ",
    "CONTRACT_ACCOUNT_WRITE",
    "CONTRACT_DEAL_READ",
    "CONTRACT_DEAL_WRITE",
    "SPOT_WITHDRAW_READ",
    "SPOT_WITHDRAW_WRITE",
    "SPOT_TRANSFER_READ",
    "SPOT_TRANSFER_WRITE",
    "SPOT_DEPOSIT_READ",
    "SPOT_DEPOSIT_WRITE",
)

#: what a key gets when no permissions are given: read and trade spot
DEFAULT_PERMISSIONS = ("SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE")


def normalize_permission(name: str) -> str:
    """Full MEXC permission name for ``name`` (accepts ``_R``/``_W`` abbreviations, any case);
    an unknown name is refused with the valid ones."""
    n = name.strip().upper()
    if n.endswith("_R"):
        n = n[:-2] + "_READ"
    elif n.endswith("_W"):
        n = n[:-2] + "_WRITE"
    if n not in PERMISSIONS:
        raise InvalidParameter(
            f"unknown API key permission {name!r} (one of {', '.join(PERMISSIONS)}; "
            "_R and _W abbreviate _READ and _WRITE)"
        )
    return n
