"""API keys: secrets encrypted at rest, shown once; permissions, expiry, revocation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bourse.domain.errors import InvalidParameter
from bourse.services.apikeys import (
    ApiKeys,
    generate_server_key,
    load_server_key,
    normalize_permission,
)
from bourse.store import tables as t


def test_permissions_normalized() -> None:
    assert normalize_permission("spot_deal_w") == "SPOT_DEAL_WRITE"
    assert normalize_permission("SPOT_ACCOUNT_R") == "SPOT_ACCOUNT_READ"
    with pytest.raises(InvalidParameter) as refused:
        normalize_permission("SPOT_TRADE")
    # the refusal lists the valid names, and how they abbreviate
    assert str(refused.value) == (
        "unknown API key permission 'SPOT_TRADE' (one of SPOT_ACCOUNT_READ, SPOT_ACCOUNT_WRITE, "
        "SPOT_DEAL_READ, SPOT_DEAL_WRITE, CONTRACT_ACCOUNT_READ, CONTRACT_ACCOUNT_WRITE, "
        "CONTRACT_DEAL_READ, CONTRACT_DEAL_WRITE, SPOT_WITHDRAW_READ, SPOT_WITHDRAW_WRITE, "
        "SPOT_TRANSFER_READ, SPOT_TRANSFER_WRITE, SPOT_DEPOSIT_READ, SPOT_DEPOSIT_WRITE; _R and "
        "_W abbreviate _READ and _WRITE)"
    )


def test_server_key_file_created_once(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOURSE_SECRET_KEY", raising=False)
    monkeypatch.delenv("BOURSE_SECRET_KEY_FILE", raising=False)
    k1 = load_server_key(key_dir=str(tmp_path))
    assert load_server_key(key_dir=str(tmp_path)) == k1
    assert (tmp_path / "bourse.key").stat().st_mode & 0o777 == 0o600
    db = tmp_path / "sub" / "x.db"
    db.parent.mkdir()
    monkeypatch.setenv("BOURSE_CONFIG_DIR", str(tmp_path / "config"))
    k2 = load_server_key(database_url=f"sqlite:///{db}")
    # the default key lives in the configuration directory, never beside the database
    assert not (db.parent / "bourse.key").exists() and k2 != k1
    assert (tmp_path / "config" / "bourse.key").read_bytes().strip() == k2
    env_key = generate_server_key()
    monkeypatch.setenv("BOURSE_SECRET_KEY", env_key)
    assert load_server_key(key_dir=str(tmp_path)) == env_key.encode()


def test_create_lookup_revoke(db_engine: Any) -> None:
    keys = ApiKeys(db_engine, generate_server_key().encode())
    api_key, secret = keys.create_key(
        100, ["SPOT_DEAL_R", "SPOT_ACCOUNT_READ"], label="bot", symbols=["btcusdt"], now_ms=1000
    )
    with db_engine.connect() as conn:
        row = conn.execute(select(t.api_keys).where(t.api_keys.c.api_key == api_key)).one()
    assert secret.encode() not in bytes(row.secret_enc)
    assert row.expires == 1000 + 90 * 24 * 3600 * 1000  # no IP whitelist: 90 days
    k = keys.lookup(api_key)
    assert k is not None and k.secret == secret and k.account_id == 100
    assert k.permissions == {"SPOT_DEAL_READ", "SPOT_ACCOUNT_READ"}
    assert k.symbols == ("BTCUSDT",) and k.symbol_allowed("BTCUSDT")
    assert not k.symbol_allowed("ETHUSDT")
    listed = keys.list_keys(100)
    assert [x["apiKey"] for x in listed] == [api_key] and "secret" not in str(listed)
    with_ip, _ = keys.create_key(100, ip_whitelist=["1.2.3.4"])
    assert keys.lookup(with_ip).expires is None and keys.lookup(with_ip).ip_allowed("1.2.3.4")
    assert not keys.lookup(with_ip).ip_allowed("1.2.3.5")
    assert keys.delete_key(api_key)
    assert not keys.delete_key(api_key)
    assert keys.lookup(api_key).revoked
    # another server key cannot decrypt the secrets
    assert ApiKeys(db_engine, generate_server_key().encode()).lookup(with_ip) is None
    with pytest.raises(InvalidParameter):
        keys.create_key(100, ip_whitelist=["not-an-ip"])
    with pytest.raises(InvalidParameter):
        keys.create_key(100, ip_whitelist=[f"10.0.0.{i}" for i in range(11)])
