"""Broker endpoints: MEXC's rebate ``taxQuery`` plus the Bourse broker extensions.

MEXC (reference section 1.7):

* ``GET /api/v3/broker/rebate/taxQuery``: daily rebate totals per (day, user, asset), MEXC's
  exact shape ``{"page","totalRecords","totalPageNum","data":[{asset, amount, type, uid,
  time(yyyyMMdd)}]}``.

Bourse extensions (MEXC advertises these features without an API; see ``docs/brokers.md``):

* ``GET  /api/v3/broker/rebate/detail``: per-trade rebate records with settlement status;
* ``POST /api/v3/broker/apply``, ``GET /api/v3/broker/info``: apply, see status and rates;
* ``GET/DELETE /api/v3/broker/apiKey/bound``: the keys bound to the calling broker / let one go;
* ``POST/GET/DELETE /api/v3/user/apiKey``: a user's own keys (permissions, IP and symbol
  whitelists, expiry); ``POST /api/v3/user/apiKey/renew``: extend the expiry or rotate the
  secret, keeping the binding;
* ``POST/GET/DELETE /api/v3/user/apiKey/bind``: bind a key to a broker (once, ever), see it,
  unbind;
* ``/api/v3/broker/oauth/...``: an OAuth broker's clients (register an app, rotate a secret,
  redirect URIs, scopes).

Every endpoint is SIGNED. A broker only ever sees its own rebates and keys: the broker is the
one whose main account owns the calling key, never a parameter.

One module per family: ``rebates``, ``program`` (apply, info, bound keys), ``keys`` (a user's
own keys), ``bindings`` and ``oauth_clients``; ``common`` holds what they share.
"""

from __future__ import annotations

from bourse.api.mexc.broker import bindings, keys, oauth_clients, program, rebates
from bourse.api.mexc.context import Endpoint

ENDPOINTS: list[Endpoint] = [
    *rebates.ENDPOINTS,
    *program.ENDPOINTS,
    *keys.ENDPOINTS,
    *bindings.ENDPOINTS,
    *oauth_clients.ENDPOINTS,
]
