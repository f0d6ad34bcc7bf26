"""A Starlette router that finds a route with a plain path (no ``{param}``) by one dict lookup.

Starlette's ``Router`` tries its routes in order, a regex match each: ``POST /api/v3/order`` is
the 18th of ~190 routes (about 12 us a request). ``ExactRouter`` indexes (path, method) of
every plain ``Route`` that no earlier route would fully match, so the answer is the one the
linear scan would give; anything not in the index (path parameters, mounts, 404/405, slash
redirects, websockets) takes Starlette's own path. The index is rebuilt when routes are added.
"""

from __future__ import annotations

from starlette.routing import Match, Route, Router, get_route_path
from starlette.types import Receive, Scope, Send


class ExactRouter(Router):
    _index: dict[tuple[str, str], Route]
    _indexed = -1

    def _build(self) -> dict[tuple[str, str], Route]:
        index: dict[tuple[str, str], Route] = {}
        for i, route in enumerate(self.routes):
            if not isinstance(route, Route) or "{" in route.path or not route.methods:
                continue
            for method in route.methods:
                key = (route.path, method)
                if key in index:
                    continue
                probe: Scope = {"type": "http", "path": route.path, "method": method}
                probe.update(root_path="", headers=[], query_string=b"")
                try:
                    shadowed = any(r.matches(probe)[0] is Match.FULL for r in self.routes[:i])
                except Exception:  # a route that cannot judge a bare scope: leave it to Starlette
                    shadowed = True
                if not shadowed:
                    index[key] = route
        return index

    def index(self) -> dict[tuple[str, str], Route]:
        """(path, method) -> the route Starlette's scan would find first, for plain paths."""
        if self._indexed != len(self.routes):
            self._index, self._indexed = self._build(), len(self.routes)
        return self._index

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.index().get((get_route_path(scope), scope["method"]))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    if "router" not in scope:
                        scope["router"] = self
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
