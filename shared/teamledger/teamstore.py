"""Team partitions: the team item, its member items (each with its membership budget) and the
team's keys. Reads and the write fragments that other modules add to their transactions."""

import random
import uuid
from dataclasses import dataclass, field

from teamledger import audit, db, itemkeys
from teamledger.auth import Actor
from teamledger.models import BudgetTable, MemberOut, Team, TeamMembership

ACTIVE, DELETING = "active", "deleting"
ROSTER_LIMIT = 500  # members copied onto the team item for the list routes (see roster_add)
TEAM_FIELDS = tuple(f for f in Team.model_fields
                    if f not in ("admins", "members", "members_with_roles", "litellm_model_table"))
BUDGET_FIELDS = tuple(BudgetTable.model_fields)


@dataclass
class TeamView:
    team: dict
    members: list[dict] = field(default_factory=list)

    @property
    def team_id(self) -> str:
        return self.team["team_id"]

    def role_of(self, user_id: str | None) -> str | None:
        return next((m["role"] for m in self.members if m["user_id"] == user_id), None)

    def member(self, user_id: str) -> dict | None:
        return next((m for m in self.members if m["user_id"] == user_id), None)


# --- items -------------------------------------------------------------------------------

def team_item(values: dict, members: list[dict] = ()) -> dict:
    """A new team item; `members` (member items) start its roster."""
    pk = itemkeys.team(values["team_id"])
    item = pk | itemkeys.team_index(values) | \
        itemkeys.reset_index(pk, values.get("budget_reset_at")) | \
        {"entity": "team", "status": ACTIVE, "version": 1,
         "roster": {m["user_id"]: roster_entry(m) for m in members[:ROSTER_LIMIT]}} | values
    return {k: v for k, v in item.items() if v is not None}


def roster_entry(member: dict) -> dict:
    return {"user_email": member.get("user_email"), "role": member["role"],
            "order": f"{member.get('joined_at', '')}#{member.get('join_order', 0):06d}"}


def member_item(team_id: str, user_id: str, user_email: str | None, role: str, now: str,
                order: int = 0, budget: dict | None = None) -> dict:
    """A member and its TeamMembership in one item; `budget` from `new_budget` (or none)."""
    key = itemkeys.member(team_id, user_id)
    budget = budget or {}
    return key | itemkeys.member_index(team_id, user_id) | {
        "entity": "member", "team_id": team_id, "user_id": user_id, "user_email": user_email,
        "role": role, "spend": 0.0, "joined_at": now, "join_order": order, "version": 1,
    } | budget | itemkeys.reset_index(key, budget.get("budget_reset_at"))


def new_budget(max_budget: float | None, duration: str | None, reset_at: str | None) -> dict:
    """A membership budget (LiteLLM's budget row, kept on the member item). Its anchor, the
    first reset time, is where the period grid counts from."""
    fields = {"budget_id": str(uuid.uuid4()), "max_budget": max_budget,
              "budget_duration": duration, "budget_reset_at": reset_at, "budget_anchor": reset_at}
    return {k: v for k, v in fields.items() if v is not None}


def team_public(item: dict) -> dict:
    values = {k: item.get(k) for k in TEAM_FIELDS}
    values["litellm_model_table"] = item.get("litellm_model_table")
    return values


def member_public(item: dict) -> dict:
    return {"user_id": item["user_id"], "user_email": item.get("user_email"),
            "role": item["role"]}


def membership(item: dict) -> TeamMembership:
    budget = None
    if item.get("budget_id"):
        budget = BudgetTable(**{k: item.get(k) for k in BUDGET_FIELDS})
    return TeamMembership(user_id=item["user_id"], team_id=item["team_id"],
                          budget_id=item.get("budget_id"), spend=item.get("spend") or 0.0,
                          litellm_budget_table=budget)


def to_team(view: TeamView) -> Team:
    members = sorted(view.members, key=lambda m: (m.get("joined_at", ""), m.get("join_order", 0)))
    return Team(**{k: v for k, v in team_public(view.team).items() if v is not None},
                admins=[m["user_id"] for m in members if m["role"] == "admin"],
                members=[m["user_id"] for m in members],
                members_with_roles=[MemberOut(**member_public(m)) for m in members])


def roster_team(item: dict) -> Team:
    """A team as the list routes show it: its members from the roster on the team item (the
    first ROSTER_LIMIT members; /team/info reads them all)."""
    roster = sorted((item.get("roster") or {}).items(), key=lambda e: e[1].get("order", ""))
    members = [{"user_id": user_id, "user_email": entry.get("user_email"),
                "role": entry["role"]} for user_id, entry in roster]
    return Team(**{k: v for k, v in team_public(item).items() if v is not None},
                admins=[m["user_id"] for m in members if m["role"] == "admin"],
                members=[m["user_id"] for m in members],
                members_with_roles=[MemberOut(**m) for m in members])


# --- reads -------------------------------------------------------------------------------

def load_team(team_id: str, *, include_deleting: bool = False) -> TeamView | None:
    """Team + members + memberships in one (paged) consistent Query of its partition."""
    team, members = None, []
    for item in db.query_all(itemkeys.team_partition(team_id), consistent=True):
        if item.get("entity") == "team":
            team = item
        elif item.get("entity") == "member":
            members.append(item)
    if team is None or (team.get("status") != ACTIVE and not include_deleting):
        return None
    return TeamView(team, members)


def summary_keys(team_id: str, user_id: str | None) -> list[dict]:
    """The team item and one member item (the caller's), to read in one BatchGetItem."""
    return [itemkeys.team(team_id)] + ([itemkeys.member(team_id, user_id)] if user_id else [])


def summary_view(team_id: str, items: list[dict]) -> TeamView | None:
    team = next((i for i in items if i.get("entity") == "team" and i["team_id"] == team_id),
                None)
    if team is None or team.get("status") != ACTIVE:
        return None
    return TeamView(team, [i for i in items
                           if i.get("entity") == "member" and i["team_id"] == team_id])


def load_teams(team_ids: list[str]) -> list[Team]:
    """Active teams among `team_ids`, in that order, as the list routes show them (members
    from the roster): one BatchGetItem per 100 teams, not a Query per team."""
    ids = list(dict.fromkeys(team_ids))
    found = {i["team_id"]: i for i in db.batch_get([itemkeys.team(t) for t in ids])
             if i.get("entity") == "team" and i.get("status") == ACTIVE}
    return [roster_team(found[t]) for t in ids if t in found]


def team_total() -> int:
    """The number of teams: the sum of the counter shards (one BatchGetItem)."""
    shards = db.batch_get([itemkeys.team_counter_shard(n)
                           for n in range(itemkeys.COUNTER_SHARDS)])
    return int(sum(s.get("team_count", 0) for s in shards))


def team_keys(team_id: str) -> list[dict]:
    return list(db.query_all(itemkeys.team_keys_partition(team_id), index="GSI2"))


def roles_of(user_id: str | None, team_ids: set[str]) -> dict[str, str]:
    """The user's role in each of these teams (one BatchGetItem)."""
    if not user_id or not team_ids:
        return {}
    items = db.batch_get([itemkeys.member(t, user_id) for t in team_ids])
    return {i["team_id"]: i["role"] for i in items}


# --- write fragments ---------------------------------------------------------------------

def check_active(tx: db.Transaction, team_id: str) -> int:
    return tx.check(itemkeys.team(team_id), "#status = :active", {":active": ACTIVE},
                    names={"#status": "status"})


def roster_add(tx: db.Transaction, team: dict, members: list[dict]) -> int:
    """The team still active, and the new members on its roster while the roster has room.
    One update of the team item, in the transaction that puts the member items: the roster
    never shows a member that was not added. Returns the update's index."""
    room = max(0, ROSTER_LIMIT - len(team.get("roster") or {}))
    entries = {m["user_id"]: roster_entry(m) for m in members[:room]}
    return _roster_update(tx, team["team_id"], "SET", entries)


def roster_remove(tx: db.Transaction, team_id: str, user_id: str) -> int:
    return _roster_update(tx, team_id, "REMOVE", {user_id: None})


def roster_role(tx: db.Transaction, team: dict, user_id: str, role: str) -> int:
    if user_id not in (team.get("roster") or {}):
        return check_active(tx, team["team_id"])
    return _roster_update(tx, team["team_id"], "SET", {user_id: role}, field="role")


def _roster_update(tx: db.Transaction, team_id: str, verb: str, entries: dict,
                   field: str | None = None) -> int:
    if not entries:
        return check_active(tx, team_id)
    names = {"#status": "status", "#roster": "roster"}
    values = {":active": ACTIVE}
    paths = []
    for n, (user_id, value) in enumerate(entries.items()):
        names[f"#u{n}"] = user_id
        path = f"#roster.#u{n}" + (".#field" if field else "")
        paths.append(f"{path} = :m{n}" if verb == "SET" else path)
        if verb == "SET":
            values[f":m{n}"] = value
    if field:
        names["#field"] = field
    return tx.update(itemkeys.team(team_id), f"{verb} {', '.join(paths)}", names=names,
                     values=values, condition="#status = :active")


def count_teams(tx: db.Transaction, delta: int) -> None:
    shard = itemkeys.team_counter_shard(random.randrange(itemkeys.COUNTER_SHARDS))
    tx.update(shard, "ADD team_count :d", values={":d": delta})


def add_member(tx: db.Transaction, actor: Actor, item: dict) -> int:
    index = tx.put(item, condition="attribute_not_exists(PK)")
    audit.record(tx, actor, audit.CREATED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(item["team_id"], item["user_id"]), None,
                 member_public(item) | membership(item).model_dump())
    return index


def add_memberships_of_new_user(tx: db.Transaction, actor: Actor, user: dict,
                                teams: dict[str, dict | None], now: str) -> list[tuple[int, str]]:
    """`teams`: team id -> its item as read (None if not found: the condition will refuse)."""
    checks = []
    for order, (team_id, team) in enumerate(teams.items()):
        item = member_item(team_id, user["user_id"], user.get("user_email"), "user", now, order)
        checks.append((roster_add(tx, team or {"team_id": team_id}, [item]), team_id))
        add_member(tx, actor, item)
    return checks


def update_member(tx: db.Transaction, actor: Actor, item: dict, changes: dict) -> dict:
    """Write the member fields that really change, with their audit record, on condition that
    the item is still the one read (its version); returns the new item."""
    before, after = audit.changed_fields(item, changes)
    if not after:
        return item
    written = after | {"version": item.get("version", 0) + 1}
    if "budget_reset_at" in after:
        written |= {"GSI4PK": None, "GSI4SK": None} | itemkeys.reset_index(
            item, after["budget_reset_at"])
    expression, names, values = db.update_expression(written)
    # Members written before versions existed have none: unchanged means still none.
    if "version" in item:
        condition, values = "#version = :v", values | {":v": item["version"]}
    else:
        condition = "attribute_not_exists(#version)"
    tx.update(itemkeys.member(item["team_id"], item["user_id"]), expression, values=values,
              names=names | {"#version": "version"},
              condition=f"attribute_exists(PK) AND {condition}")
    audit.record(tx, actor, audit.UPDATED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(item["team_id"], item["user_id"]),
                 {k: v for k, v in before.items() if k != "budget_anchor"},
                 {k: v for k, v in after.items() if k != "budget_anchor"})
    return {k: v for k, v in (item | written).items() if v is not None}


def add_member_deletion(tx: db.Transaction, actor: Actor | None, item: dict) -> None:
    tx.delete(itemkeys.member(item["team_id"], item["user_id"]),
              condition="attribute_exists(PK)")
    audit.record(tx, actor, audit.DELETED, audit.MEMBERSHIP_TABLE,
                 audit.membership_id(item["team_id"], item["user_id"]),
                 member_public(item) | membership(item).model_dump(), None)
