"""A member of a team and its TeamMembership (its own spend and budget in that team) are one
stored item. Here: what such an item holds, and its writes with their audit records, shared by
the team, member and user routes."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamledger.domain import audit, limits
from teamledger.domain.callers import Actor
from teamledger.domain.durations import BudgetPeriod
from teamledger.domain.views import member_public, membership
from teamledger.errors import BadRequest
from teamledger.store import stores
from teamledger.store.table import Transaction
from teamledger.timestamps import to_iso

Item = dict[str, Any]


def member_values(team_id: str, user_id: str, user_email: str | None, role: str, now: str,
                  order: int = 0, budget: Item | None = None) -> Item:
    """A new member; `budget` from `new_budget` (or none)."""
    return {"team_id": team_id, "user_id": user_id, "user_email": user_email, "role": role,
            "spend": 0.0, "joined_at": now, "join_order": order} | (budget or {})


def new_budget(max_budget: float | None, duration: str | None, reset_at: str | None) -> Item:
    """A membership budget (LiteLLM's budget row, kept on the member). Its anchor, the first
    reset time, is where the period grid counts from."""
    fields = {"budget_id": str(uuid.uuid4()), "max_budget": max_budget,
              "budget_duration": duration, "budget_reset_at": reset_at, "budget_anchor": reset_at}
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class BudgetPlan:
    """The membership budget a request gives each member it adds (each gets its own id)."""

    max_budget: float | None = None
    duration: str | None = None
    period: BudgetPeriod | None = None

    @classmethod
    def checked(cls, max_budget: float | None, duration: str | None = None) -> "BudgetPlan":
        limits.check_budget("max_budget_in_team", max_budget)
        return cls(max_budget, duration, limits.parse_duration(duration))

    def for_member(self, now: datetime) -> Item | None:
        if self.max_budget is None and self.duration is None:
            return None
        reset_at = to_iso(self.period.first_reset(now)) if self.period else None
        return new_budget(self.max_budget, self.duration, reset_at)


def already_in(user_id: str) -> BadRequest:
    # Names this member only: the rest of the roster is none of the caller's business here.
    return BadRequest(f"User {user_id} is already a member of this team")


def add_member(tx: Transaction, actor: Actor, member: Item) -> None:
    """The member's item (refused if it is in already) with its audit record."""
    stores().members.put_new(tx, member, refusal=already_in(member["user_id"]))
    audit.record(tx, actor, audit.CREATED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(member["team_id"], member["user_id"]), None,
                 member_public(member) | membership(member).model_dump(),
                 team_id=member["team_id"])


def update_member(tx: Transaction, actor: Actor, member: Item, changes: Item) -> Item:
    """Write the member fields that really change, with their audit record, on condition that
    the member is still the one read; returns the new item (`member` itself if nothing
    changes)."""
    before, after = audit.changed_fields(member, changes)
    if not after:
        return member
    new = stores().members.update(tx, member, after)
    audit.record(tx, actor, audit.UPDATED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(member["team_id"], member["user_id"]),
                 {k: v for k, v in before.items() if k != "budget_anchor"},
                 {k: v for k, v in after.items() if k != "budget_anchor"},
                 team_id=member["team_id"])
    return new


def delete_member(tx: Transaction, actor: Actor | None, member: Item) -> None:
    """The member's item, its membership budget and the user's link to the team, audited."""
    stores().members.delete(tx, member)
    audit.record(tx, actor, audit.DELETED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(member["team_id"], member["user_id"]),
                 member_public(member) | membership(member).model_dump(), None,
                 team_id=member["team_id"])
