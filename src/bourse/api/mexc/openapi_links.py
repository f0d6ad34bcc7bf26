"""OpenAPI links: which answer feeds which next call (an order's id to query or cancel it, a
key to renew or bind it, ...). They document the API's workflows, and schemathesis follows
them to test sequences of calls, not only single ones (tests/api/test_openapi_stateful.py).

``LINKS[(method, path)]`` lists ``(target method, target path, {parameter: JSON pointer into
the 200 answer})``; the OpenAPI document names the target by its operationId.
"""

from __future__ import annotations

Link = tuple[str, str, dict[str, str]]

_ORDER = {"symbol": "/symbol", "orderId": "/orderId"}
_KEY = {"apiKey": "/apiKey"}
_GROUP = {"tradeGroupId": "/data/tradeGroupId"}
_SUB = {"subAccount": "/subAccount"}

LINKS: dict[tuple[str, str], list[Link]] = {
    ("POST", "/api/v3/order"): [
        ("GET", "/api/v3/order", _ORDER),
        ("DELETE", "/api/v3/order", _ORDER),
        ("GET", "/api/v3/myTrades", _ORDER),
        ("GET", "/api/v3/openOrders", {"symbol": "/symbol"}),
        ("DELETE", "/api/v3/openOrders", {"symbol": "/symbol"}),
    ],
    ("POST", "/api/v3/user/apiKey"): [
        ("DELETE", "/api/v3/user/apiKey", _KEY),
        ("POST", "/api/v3/user/apiKey/renew", _KEY),
        ("GET", "/api/v3/user/apiKey/bind", _KEY),
        ("DELETE", "/api/v3/user/apiKey/bind", _KEY),
    ],
    ("POST", "/api/v3/capital/withdraw"): [
        ("DELETE", "/api/v3/capital/withdraw", {"id": "/id"}),
    ],
    ("POST", "/api/v3/capital/transfer"): [
        ("GET", "/api/v3/capital/transfer/tranId", {"tranId": "/tranId"}),
    ],
    ("POST", "/api/v3/capital/transfer/internal"): [
        ("GET", "/api/v3/capital/transfer/internal", {"tranId": "/tranId"}),
    ],
    ("POST", "/api/v3/userDataStream"): [
        ("PUT", "/api/v3/userDataStream", {"listenKey": "/listenKey"}),
        ("DELETE", "/api/v3/userDataStream", {"listenKey": "/listenKey"}),
    ],
    ("POST", "/api/v3/strategy/group"): [
        ("DELETE", "/api/v3/strategy/group", _GROUP),
        ("POST", "/api/v3/strategy/group/uid", _GROUP),
        ("DELETE", "/api/v3/strategy/group/uid", _GROUP),
    ],
    ("POST", "/api/v3/sub-account/virtualSubAccount"): [
        ("POST", "/api/v3/sub-account/apiKey", _SUB),
        ("GET", "/api/v3/sub-account/apiKey", _SUB),
        ("GET", "/api/v3/sub-account/asset", _SUB),
        ("POST", "/api/v3/capital/sub-account/universalTransfer", {"toAccount": "/subAccount"}),
    ],
    ("POST", "/api/v3/capital/sub-account/universalTransfer"): [
        ("GET", "/api/v3/capital/sub-account/universalTransfer", {}),
    ],
}


def operation_id(method: str, path: str) -> str:
    """The operationId of ``method path`` in the OpenAPI document."""
    return f"{method.lower()}{path.replace('/', '_')}"
