"""Sub-account endpoints: MEXC's broker API sections 1.2-1.6 and the normal sub-account API
(section 2.9), over ``bourse.services.subaccounts``, one module per
family: ``accounts`` (create, list, status, futures, fee markup), ``keys``, ``transfers``
(universal transfers and balances), ``funds`` (a sub-account's deposits and withdrawals) and
``normal`` (section 2.9); ``common`` holds what they share.

Broker API, called with the **broker's master key** (the broker is the approved independent
broker whose main account owns the key; never a parameter):

* ``POST /api/v3/broker/sub-account/virtualSubAccount``, ``GET .../list``, ``GET .../status``,
  ``POST .../futures``: enveloped ``{"code":"0","message":"","data":[...]}`` where MEXC
  envelopes (create, list, futures); ``status`` is the bare ``{"status":"1"|"2"}``;
* ``POST/GET/DELETE /api/v3/broker/sub-account/apiKey`` (bare objects; ``creatTime`` sic);
* ``POST/GET /api/v3/broker/sub-account/universalTransfer`` (``{"tranId"}`` / bare array);
* ``GET /api/v3/broker/capital/deposit/subHisrec/getall`` (every sub-account's deposits).

Called with a **sub-account's own key** (MEXC's endpoints take no ``subAccount``):

* ``POST/GET /api/v3/broker/capital/deposit/subAddress``,
  ``GET /api/v3/broker/capital/deposit/subHisrec``, ``POST /api/v3/broker/capital/withdraw/apply``.

Bourse extensions (MEXC has no API for them): ``POST /api/v3/broker/sub-account/status``
(freeze/unfreeze), ``POST/GET /api/v3/broker/sub-account/commission`` (fee markup),
``GET /api/v3/broker/sub-account/assets`` (balances; clients call it, MEXC does not document
it), ``withdrawOrderId`` on the broker withdraw (idempotency), and ``*``
as ``fromAccount``/``toAccount`` in the transfer history (the master and every sub-account).

Historical (``historical``): ``POST .../sub-account/margin`` (always refused: no margin) and
``GET .../sub-account/onceToken`` (a one-time login token for the sub-account's web page).

Normal sub-accounts (section 2.9, any user's master key): ``/api/v3/sub-account/...`` and
``/api/v3/capital/sub-account/universalTransfer``.
"""

from __future__ import annotations

from bourse.api.mexc.broker_subaccounts import (
    accounts,
    funds,
    historical,
    keys,
    normal,
    transfers,
)
from bourse.api.mexc.context import Endpoint

ENDPOINTS: list[Endpoint] = [
    *accounts.ENDPOINTS,
    *keys.ENDPOINTS,
    *transfers.ENDPOINTS,
    *funds.ENDPOINTS,
    *normal.ENDPOINTS,
    *historical.ENDPOINTS,
]
