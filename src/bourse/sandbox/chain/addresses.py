"""How the simulated chain makes addresses and transaction ids look like the real chain's.

Deposit addresses are derived with HMAC-SHA256 from a server secret and (account, coin,
network), so they survive restarts and differ between installations. Memo networks share one
hot-wallet address and tell accounts apart by a derived numeric memo.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode

from bourse.services.wallet.chain import B58, BECH32, Network


def _b58(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(64):  # bounded: 32 bytes need at most 44 digits
        if n == 0:
            break
        n, r = divmod(n, 58)
        out.append(B58[r])
    return "".join(reversed(out))


def format_address(style: str, digest: bytes) -> str:
    """A chain-looking address from 32 bytes of HMAC output."""
    if style == "tron":
        return "T" + _b58(digest).rjust(33, "1")[:33]
    if style == "btc":
        bits = int.from_bytes(digest, "big")
        return "bc1q" + "".join(BECH32[(bits >> (5 * i)) & 31] for i in range(38))
    if style == "ton":
        return "UQ" + urlsafe_b64encode(digest + digest[:3]).decode()[:46]
    if style == "plain":
        return "SBX" + digest[:20].hex()
    return "0x" + digest[:20].hex()


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


def format_txid(style: str, raw: bytes) -> str:
    return ("0x" if style == "evm" else "") + raw.hex()


def withdrawal_txid(secret: bytes, withdrawal_id: int, style: str) -> str:
    """The txid the chain signs for a withdrawal (the same one after a crash)."""
    raw = hmac.new(secret, f"withdraw|{withdrawal_id}".encode(), hashlib.sha256).digest()
    return format_txid(style, raw)


def chain_secret(server_key: bytes) -> bytes:
    """The chain's address secret, derived from the server key (so addresses survive restarts
    and differ between installations, and the server key itself is never used directly)."""
    return hmac.new(server_key, b"bourse/sandbox-chain/v1", hashlib.sha256).digest()
