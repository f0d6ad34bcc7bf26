"""Sub-accounts: an independent broker's users (MEXC broker API section 1.2-1.6) and MEXC's
normal sub-accounts (section 2.9), over one service.

A **tenant** is a master account and the sub-accounts under it. For the broker API the master
is the main account of an APPROVED ``INDEPENDENT`` broker (``tenant_for_broker``); for the
normal API any user or broker master account (``tenant_for_master``). Every operation takes the
tenant first and finds sub-accounts **by name inside that tenant only**, so a name of another
tenant's sub-account is simply "sub account does not exist" (140001): tenant isolation is not a
check that can be forgotten, it is how names resolve.

* **Accounts** (``directory.py`` finds them, ``accounts.py`` changes them): ``create`` opens
  a ``BROKER_SUB`` account whose parent is the master (engine ``OpenAccount``) and records its
  name (MEXC rule: 8 to 32 letters and digits, unique per master) and note. Quota per master:
  ``NORMAL_QUOTA`` (30, MEXC's figure) for plain users, ``BROKER_QUOTA`` (1000, Binance's
  ``maxSubAccountQty`` example) for independent brokers; an operator can override both per
  master (``set_quota``). The rules and values are in ``rules.py``, the errors in ``errors.py``.
* **Status**: ``set_frozen`` goes through the engine's ``SetAccountFrozen`` (freezing cancels the
  sub-account's open orders; a frozen account cannot trade, transfer or withdraw).
* **Fees**: a sub-account pays its master's maker/taker rates plus an optional markup the
  broker sets per sub-account (``set_markup``), at most ``max_markup_ppm`` (default 2000 ppm =
  0.2 %) on each side, never negative. The rates are written with ``SetFees`` when the
  sub-account is created and whenever its markup changes; ``refresh_fees`` re-applies them
  to every sub-account of a tenant after the master's own rates change.
* **API keys** (``SubAccounts.keys``, ``keys.py``): through ``ApiKeys`` with the user-key rules
  (permission names, 90-day expiry without IPs, 30 keys per account) plus MEXC's broker limit
  of 4 IPs per key; a master's key creates and deletes only keys no wider than itself
  (``bourse.domain.keyscope``).
* **Transfers** (``SubAccounts.transfers``, ``transfers.py``): master <-> sub and sub <-> sub
  through the engine's ``Transfer`` with the master as the idempotency namespace of
  ``clientTranId``; SPOT and FUTURES wallets (FUTURES of a sub-account only once futures are
  enabled).
* **Deposits and withdrawals** (``SubAccounts.funds``, ``funds.py``) of a sub-account go
  through the wallet with the sub-account's own key (the MEXC endpoints take no
  ``subAccount`` parameter).

Amounts are integer units; parsing wire strings is the API layer's job.
"""

from bourse.services.subaccounts import errors
from bourse.services.subaccounts.accounts import SubAccounts
from bourse.services.subaccounts.directory import SubAccountDirectory
from bourse.services.subaccounts.rules import (
    BROKER_QUOTA,
    MAX_MARKUP_PPM,
    NORMAL_QUOTA,
    SubAccount,
    Tenant,
)
from bourse.services.subaccounts.seed import seed_independent_broker

__all__ = [
    "BROKER_QUOTA",
    "MAX_MARKUP_PPM",
    "NORMAL_QUOTA",
    "SubAccount",
    "SubAccountDirectory",
    "SubAccounts",
    "Tenant",
    "errors",
    "seed_independent_broker",
]
