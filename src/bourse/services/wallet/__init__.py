"""Wallet service: deposit addresses, deposits, two-phase withdrawals, universal transfers."""

from bourse.services.wallet.service import (
    DepositView,
    TransferView,
    WalletService,
    WalletSettings,
    WithdrawalView,
    format_id,
    parse_id,
)
from bourse.services.wallet.setup import build_wallet

__all__ = [
    "DepositView",
    "TransferView",
    "WalletService",
    "WalletSettings",
    "WithdrawalView",
    "build_wallet",
    "format_id",
    "parse_id",
]
