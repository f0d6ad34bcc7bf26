"""How wallet objects look on the MEXC wire: the JSON of networks, deposit addresses,
deposits, withdrawals and universal transfers, and their OpenAPI schemas.

Shapes follow MEXC, including where MEXC's own documents disagree with what its servers send
(the live form wins, because that is what ccxt parses; docs/wallet.md lists each case):

* ``network`` is the display name (``Tron(TRC20)``) in ``config/getall`` and deposit addresses,
  and the id in history rows; ``netWork`` is always the id (``TRX``).
* Withdraw ``amount`` includes the fee (the chain receives ``amount - transactionFee``);
  history ``amount`` is the same gross amount, so ccxt's ``amount - fee`` is what arrived.

Public: the broker sub-account endpoints reuse these shapes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.params import P
from bourse.domain.money import format_units
from bourse.services.wallet import DepositView, TransferView, WithdrawalView, format_id
from bourse.services.wallet.chain import DepositAddress, Network


def coin_id(coin: str) -> str:
    """A stable 32-hex id per coin (MEXC's ``coinId`` / ``vcoinId`` are opaque hex ids)."""
    return hashlib.sha256(f"coin:{coin}".encode()).hexdigest()[:32]


def network_json(net: Network, name: str) -> dict[str, Any]:
    """One ``networkList`` item of ``capital/config/getall``."""
    return {
        "coin": net.coin,
        "depositDesc": None,
        "depositEnable": net.deposit_enable,
        "minConfirm": net.confirmations,
        "name": name,
        "network": net.name,
        "netWork": net.id,
        "withdrawEnable": net.withdraw_enable,
        "withdrawFee": format_units(net.withdraw_fee, net.scale),
        "withdrawIntegerMultiple": None,
        "withdrawMax": format_units(net.withdraw_max, net.scale),
        "withdrawMin": format_units(net.withdraw_min, net.scale),
        "sameAddress": net.memo_required,
        "contract": net.contract,
        "withdrawTips": "A memo is required." if net.memo_required else None,
        "depositTips": "Send with both the address and the memo." if net.memo_required else None,
    }


def address_json(a: DepositAddress, empty_memo: str | None = None) -> dict[str, Any]:
    return {
        "coin": a.coin,
        "network": a.network.name,
        "address": a.address,
        "memo": a.memo or empty_memo,
        "netWork": a.network.id,
    }


def deposit_json(v: DepositView) -> dict[str, Any]:
    d = v.deposit
    scale = v.network.scale if v.network is not None else 0
    return {
        "amount": format_units(d.amount, scale),
        "coin": d.coin,
        "network": d.network,
        "status": v.mexc_status,
        "address": d.address,
        "addressTag": d.memo or None,
        "txId": d.tx_ref,
        "insertTime": d.created,
        "unlockConfirm": str(d.required),
        "confirmTimes": str(d.confirmations),
        "memo": d.memo or None,
        "transHash": d.txid,
        "updateTime": d.updated,
        "netWork": d.network,
    }


def withdrawal_json(v: WithdrawalView, scale: int) -> dict[str, Any]:
    w = v.withdrawal
    return {
        "id": format_id(w.id),
        "txId": w.txid or None,
        "coin": w.asset,
        "network": w.network,
        "address": w.address,
        "amount": format_units(w.amount + w.fee, scale),
        "transferType": 0,
        "status": v.mexc_status,
        "transactionFee": format_units(w.fee, scale),
        "confirmNo": v.confirmations,
        "applyTime": w.created,
        "remark": v.remark,
        "memo": w.memo or None,
        "transHash": w.txid or None,
        "updateTime": w.updated,
        "coinId": coin_id(w.asset),
        "vcoinId": coin_id(w.asset),
        "withdrawOrderId": w.client_id or None,
        "netWork": w.network,
        "explorerUrl": None,
    }


def transfer_json(v: TransferView, scale: int, by_id: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tranId": format_id(v.id),
        "clientTranId": v.client_id or None,
        "asset": v.asset,
        "amount": format_units(v.amount, scale),
        "fromAccountType": v.from_type,
        "toAccountType": v.to_type,
    }
    if by_id:
        out["symbol"] = None
    else:
        out["fromSymbol"] = None
        out["toSymbol"] = None
        out["symbol"] = None
    out["status"] = "SUCCESS"
    out["timestamp"] = v.time
    return out


# --- parameters shared by the wallet endpoints -------------------------------------------------

COIN = P("coin", required=True, description="e.g. USDT")
START = P("startTime", "int", minimum=0)
END = P("endTime", "int", minimum=0)

# --- OpenAPI schemas ---------------------------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
NSTR = s.nullable(STR)
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
DEC: dict[str, Any] = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}

NETWORK = s.obj(
    {
        "coin": STR,
        "depositDesc": NSTR,
        "depositEnable": BOOL,
        "minConfirm": INT,
        "name": STR,
        "network": STR,
        "netWork": STR,
        "withdrawEnable": BOOL,
        "withdrawFee": DEC,
        "withdrawIntegerMultiple": NSTR,
        "withdrawMax": DEC,
        "withdrawMin": DEC,
        "sameAddress": BOOL,
        "contract": STR,
        "withdrawTips": NSTR,
        "depositTips": NSTR,
    }
)
ADDRESS = s.obj({"coin": STR, "network": STR, "address": STR, "memo": NSTR, "netWork": STR})
DEPOSIT = s.obj(
    {
        "amount": DEC,
        "coin": STR,
        "network": STR,
        "status": INT,
        "address": STR,
        "addressTag": NSTR,
        "txId": STR,
        "insertTime": INT,
        "unlockConfirm": STR,
        "confirmTimes": STR,
        "memo": NSTR,
        "transHash": STR,
        "updateTime": INT,
        "netWork": STR,
    }
)
WITHDRAWAL = s.obj(
    {
        "id": STR,
        "txId": NSTR,
        "coin": STR,
        "network": STR,
        "address": STR,
        "amount": DEC,
        "transferType": INT,
        "status": INT,
        "transactionFee": DEC,
        "confirmNo": s.nullable(INT),
        "applyTime": INT,
        "remark": STR,
        "memo": NSTR,
        "transHash": NSTR,
        "updateTime": INT,
        "coinId": STR,
        "vcoinId": STR,
        "withdrawOrderId": NSTR,
        "netWork": STR,
        "explorerUrl": NSTR,
    }
)
TRANSFER = s.obj(
    {
        "tranId": STR,
        "clientTranId": NSTR,
        "asset": STR,
        "amount": DEC,
        "fromAccountType": STR,
        "toAccountType": STR,
        "status": STR,
        "timestamp": INT,
    }
)
ID = s.obj({"id": STR})
