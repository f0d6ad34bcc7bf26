"""Wallet service: deposit addresses, deposits, two-phase withdrawals, universal transfers,
over the ``Chain`` port (``bourse.services.wallet.chain``)."""

from bourse.services.wallet.chain import Chain
from bourse.services.wallet.service import (
    DepositView,
    TransferView,
    WalletService,
    WalletSettings,
    WithdrawalRequest,
    WithdrawalView,
    format_id,
    parse_id,
)

__all__ = [
    "Chain",
    "DepositView",
    "TransferView",
    "WalletService",
    "WalletSettings",
    "WithdrawalRequest",
    "WithdrawalView",
    "format_id",
    "parse_id",
]
