"""STP groups (reference section 2.6): ``POST/GET/DELETE /api/v3/strategy/group`` and
``POST/DELETE /api/v3/strategy/group/uid``, in MEXC's ``{"data":..,"code":200,"msg":"success",
"timestamp":..}`` envelope.

The groups live in the engine (``domain.stp_groups``), which matching reads; every change is an
engine command, committed before it is answered. Only a master account manages groups, and
only for itself and its own sub-accounts.
"""

from __future__ import annotations

from typing import Any

from bourse.api.mexc import schemas as s
from bourse.api.mexc.context import Ctx, Endpoint
from bourse.api.mexc.params import P, invalid
from bourse.domain.errors import StpGroupNotFound
from bourse.domain.ids import whole_id
from bourse.domain.stp_groups import MAX_NAME, StpGroup
from bourse.engine import commands as c

PATH = "/api/v3/strategy/group"
AR, AW = "SPOT_ACCOUNT_READ", "SPOT_ACCOUNT_WRITE"
#: at most this many UIDs in one ``uid`` list
MAX_UIDS = 100


def envelope(data: Any, now: int) -> dict[str, Any]:
    return {"data": data, "code": 200, "msg": "success", "timestamp": now}


def group_json(g: StpGroup, members: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"tradeGroupName": g.name, "tradeGroupId": g.id}
    if members:
        out["tradeGroupUid"] = ",".join(map(str, sorted(g.members)))
    out["createTime"] = g.created
    out["updateTime"] = g.updated
    return out


def group_id(ctx: Ctx) -> int:
    raw = ctx.params["tradeGroupId"]
    found = whole_id(raw)
    if found is None:
        raise StpGroupNotFound("STP group not found")
    return found


def uids(ctx: Ctx) -> tuple[int, ...]:
    parts = [x.strip() for x in ctx.params["uid"].split(",")]
    found = [whole_id(x) for x in parts]
    if not parts or len(parts) > MAX_UIDS or None in found:
        raise invalid("uid", f"a comma-separated list of up to {MAX_UIDS} UIDs")
    return tuple(x for x in found if x is not None)


async def create_group(ctx: Ctx) -> Any:
    cmd = c.CreateStpGroup(ctx.account, ctx.params["tradeGroupName"])
    group = await ctx.services.engine.run(cmd)
    return envelope(group_json(group, members=False), ctx.now)


async def query_groups(ctx: Ctx) -> Any:
    owner, name = ctx.account, ctx.params.get("tradeGroupName")

    def snap(engine: Any) -> list[dict[str, Any]]:
        groups = engine.state.stp_groups.owned(owner)
        return [group_json(g, members=True) for g in groups if name is None or g.name == name]

    return envelope(await ctx.read(snap), ctx.now)


async def delete_group(ctx: Ctx) -> Any:
    await ctx.services.engine.run(c.DeleteStpGroup(ctx.account, group_id(ctx)))
    return envelope(True, ctx.now)


async def add_members(ctx: Ctx) -> Any:
    cmd = c.SetStpGroupMembers(ctx.account, group_id(ctx), uids(ctx), add=True)
    await ctx.services.engine.run(cmd)
    return envelope(True, ctx.now)


async def remove_members(ctx: Ctx) -> Any:
    cmd = c.SetStpGroupMembers(ctx.account, group_id(ctx), uids(ctx), add=False)
    await ctx.services.engine.run(cmd)
    return envelope(True, ctx.now)


def _env(data: dict[str, Any]) -> dict[str, Any]:
    return s.obj({"data": data, "code": s.INT, "msg": s.S, "timestamp": s.INT})


GROUP = s.obj(
    {"tradeGroupName": s.S, "tradeGroupId": s.INT, "createTime": s.INT, "updateTime": s.INT}
)
GROUP_ROW = s.obj(
    {
        "tradeGroupName": s.S,
        "tradeGroupId": s.INT,
        "tradeGroupUid": s.S,
        "createTime": s.INT,
        "updateTime": s.INT,
    }
)
DONE = _env({"type": "boolean"})
GROUP_ID = P("tradeGroupId", required=True)
UID = P("uid", required=True, description="comma-separated UIDs: the master or its sub-accounts")

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        PATH,
        create_group,
        (P("tradeGroupName", required=True, description=f"up to {MAX_NAME} characters"),),
        True,
        AW,
        "Create an STP group (master accounts; at most 10)",
        _env(GROUP),
        20,
    ),
    Endpoint(
        "GET",
        PATH,
        query_groups,
        (P("tradeGroupName"),),
        True,
        AR,
        "The account's STP groups and their UIDs",
        _env(s.arr(GROUP_ROW)),
        20,
    ),
    Endpoint(
        "DELETE",
        PATH,
        delete_group,
        (GROUP_ID,),
        True,
        AW,
        "Delete an STP group",
        DONE,
        20,
    ),
    Endpoint(
        "POST",
        PATH + "/uid",
        add_members,
        (UID, GROUP_ID),
        True,
        AW,
        "Add UIDs (the master or its sub-accounts) to an STP group",
        DONE,
        20,
    ),
    Endpoint(
        "DELETE",
        PATH + "/uid",
        remove_members,
        (UID, GROUP_ID),
        True,
        AW,
        "Remove UIDs from an STP group",
        DONE,
        20,
    ),
]
