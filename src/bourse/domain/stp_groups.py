"""STP groups: accounts of one master that self-trade prevention treats as one.

A master account (not a sub-account) may own up to ``MAX_GROUPS`` groups, each with a name unique
among its groups, and put into them itself and its own sub-accounts; an account is in at most
one group. When a taker meets a resting order of an account in its group, the taker's
``stpMode`` (or the operator's default) applies exactly as if the resting order were its own
(``domain.matching.stp``); with no prevention mode the two trade, as MEXC documents for NONE.

``StpGroups`` keeps ``peers`` (account -> the member set of its group) for the match loop, which
only asks "is this maker a peer of the taker".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bourse.domain.errors import InvalidParameter, StpGroupNotFound, StpGroupRefused

MAX_GROUPS = 10
MAX_NAME = 64


@dataclass(slots=True)
class StpGroup:
    id: int
    owner: int
    name: str
    members: set[int] = field(default_factory=set)
    created: int = 0
    updated: int = 0
    deleted: bool = False


class StpGroups:
    """Every live group, and each member's peers (single-threaded: the engine's)."""

    def __init__(self, peers: dict[int, set[int]]) -> None:
        self.groups: dict[int, StpGroup] = {}
        #: account -> the members of its group (the same set object for every member)
        self.peers = peers
        self.next_id = 1

    def restore(self, group: StpGroup) -> None:
        if group.id >= self.next_id:
            self.next_id = group.id + 1
        if group.deleted:
            return
        self.groups[group.id] = group
        for acc in group.members:
            self.peers[acc] = group.members

    def owned(self, owner: int) -> list[StpGroup]:
        return sorted((g for g in self.groups.values() if g.owner == owner), key=_by_id)

    def create(self, owner: int, name: str, now: int) -> StpGroup:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidParameter(f"tradeGroupName must be 1 to {MAX_NAME} characters")
        mine = self.owned(owner)
        if any(g.name == name for g in mine):
            raise StpGroupRefused(f"a group named {name!r} exists")
        if len(mine) >= MAX_GROUPS:
            raise StpGroupRefused(f"at most {MAX_GROUPS} STP groups")
        group = StpGroup(self.next_id, owner, name, set(), now, now)
        self.next_id += 1
        self.groups[group.id] = group
        return group

    def get(self, owner: int, group_id: int) -> StpGroup:
        group = self.groups.get(group_id)
        if group is None or group.owner != owner:
            raise StpGroupNotFound("STP group not found")
        return group

    def delete(self, owner: int, group_id: int, now: int) -> StpGroup:
        group = self.get(owner, group_id)
        for acc in group.members:
            self.peers.pop(acc, None)
        del self.groups[group.id]
        group.deleted = True
        group.updated = now
        return group

    def add(
        self,
        owner: int,
        group_id: int,
        accounts: Iterable[int],
        now: int,
        parent_of: Callable[[int], int | None],
    ) -> StpGroup:
        """Put ``accounts`` (the owner or its sub-accounts, in no other group) in the group.

        All are checked before any is added."""
        group = self.get(owner, group_id)
        wanted = set(accounts)
        for acc in wanted:
            if acc != owner and parent_of(acc) != owner:
                raise StpGroupRefused(f"account {acc} is neither the master nor its sub-account")
            current = self.peers.get(acc)
            if current is not None and current is not group.members:
                raise StpGroupRefused(f"account {acc} is in another STP group")
        for acc in wanted:
            group.members.add(acc)
            self.peers[acc] = group.members
        group.updated = now
        return group

    def remove(self, owner: int, group_id: int, accounts: Iterable[int], now: int) -> StpGroup:
        """Take ``accounts`` out of the group; all must be members (checked before any goes)."""
        group = self.get(owner, group_id)
        wanted = set(accounts)
        for acc in wanted:
            if acc not in group.members:
                raise StpGroupRefused(f"account {acc} is not in this STP group")
        for acc in wanted:
            group.members.discard(acc)
            self.peers.pop(acc, None)
        group.updated = now
        return group


def _by_id(group: StpGroup) -> int:
    return group.id
