"""What a handler gets (``Ctx``) and how an endpoint is declared (``Endpoint``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from bourse.domain.errors import UnknownSymbol
from bourse.domain.symbols import Symbol
from bourse.services.apikeys import ApiKey
from bourse.services.bundle import Services

from .params import P


@dataclass(slots=True)
class Ctx:
    services: Services
    request: Request
    params: dict[str, Any]
    ip: str
    now: int
    key: ApiKey | None = None
    #: the OAuth principal when the request carried ``Authorization: Bearer`` (then ``key`` is
    #: a key-shaped view of the token: same account, the token's permissions)
    principal: Any = None
    #: the request's signature, lower-cased, once ``key`` authenticated it ("" otherwise)
    signature: str = ""
    #: the request's headers by lower-case name (``routes.header_map``); ``header`` reads them
    headers: Mapping[bytes, bytes] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The request header ``name`` (lower case), as ``request.headers.get`` answers."""
        if not self.headers:  # a Ctx made without them
            return self.request.headers.get(name)
        value = self.headers.get(name.encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    @property
    def account(self) -> int:
        assert self.key is not None
        return self.key.account_id

    def symbol(self, name: str) -> Symbol:
        """The listed symbol ``name`` (-1121 otherwise). Symbols are immutable values, so this
        plain dict read needs no engine lock."""
        sym = self.services.engine.exchange.symbols.get(name)
        if sym is None:
            raise UnknownSymbol("Invalid symbol.")
        return sym

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        """``engine.read(fn)`` in a worker thread (it may wait for a batch commit)."""
        return await run_in_threadpool(self.services.engine.read, fn)

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A blocking database read in a worker thread."""
        return await run_in_threadpool(fn, *args, **kwargs)


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One MEXC endpoint: the single declaration routing, validation and OpenAPI use."""

    method: str
    path: str
    handler: Handler
    params: tuple[P, ...] = ()
    signed: bool = False
    #: MEXC permission the key needs (None: any valid key)
    permission: str | None = None
    summary: str = ""
    #: JSON schema of the 200 response
    response: dict[str, Any] = field(default_factory=dict)
    weight: int = 1
    #: whether the gateway claims the signature before the handler runs, so that a copy of the
    #: request is refused (``replay.claim``, code 26). None: every signed request but a GET.
    #: False where the handler's commands carry their own replay keys (an order, a
    #: withdrawal, a transfer: one per movement, atomic with it), or a copy changes nothing
    #: (an order test) or only cancels again (kept off the hot path); True for a GET that
    #: mints or reveals a credential
    claims_signature: bool | None = None
    #: a claimed request that may carry a signature a read already showed (signed over the
    #: time window alone, ``replay.remember_read``): only ``POST userDataStream``, bodiless,
    #: which a client signs in the same millisecond as its balance read (a bot next to the
    #: exchange starting up); every other claimed request is refused such a signature (26)
    shares_read_signature: bool = False

    @property
    def claims(self) -> bool:
        """Whether the gateway claims this endpoint's signature (``claims_signature``)."""
        if not self.signed:
            return False
        if self.claims_signature is None:
            return self.method != "GET"
        return self.claims_signature
