"""The list routes: GET /v2/team/list (pages), GET /team/filter/ui (search, newest first) and
GET /team/list (everything, with memberships and keys).

Two ways to a page:
- every team (admins and viewers, no narrowing to some teams): a Query of the team-order index
  of the requested sort (GSI3 alias, GSI5 created_at, GSI6 spend; one partition, sort keys
  ending in `#<team_id>`), starting at the cursor, reading one page (+1 to know if there is
  more). Filters on organization and alias are FilterExpressions, so they cost the items
  they pass over; the total is the counter, or a Select=COUNT when filtered.
- some teams (a caller's own, a user's, one team_id): their team items in one BatchGetItem
  per 100, sorted, filtered and cut in memory with the same sort keys and the same cursor.
List pages show each team's members from the roster on its team item (teamstore.roster_team).
"""

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass

from teamledger import apikeys, cursors, db, itemkeys, teamstore, users
from teamledger.auth import Actor, Caller
from teamledger.errors import BadRequest, Unauthorized
from teamledger.models import ListedTeam, Team, TeamPage
from teamledger.policy import Action, authorize, check_gate, may_list_teams_of
from teamledger.teamstore import TeamView

DEFAULT_ORGANIZATION = "default_organization"  # LiteLLM's name for "no organization"
FILTER_CHUNK = 100  # items a filtered Query evaluates per request
MAX_CURSOR = cursors.MAX_CURSOR


@dataclass(frozen=True)
class TeamFilter:
    team_id: str | None = None
    organization_id: str | None = None
    team_alias: str | None = None  # partial, case-insensitive

    def matches(self, item: dict) -> bool:
        if item.get("entity") != "team" or item.get("status") != teamstore.ACTIVE:
            return False
        if self.team_id is not None and item["team_id"] != self.team_id:
            return False
        if self.organization_id is not None:
            wanted = None if self.organization_id == DEFAULT_ORGANIZATION else \
                self.organization_id
            if item.get("organization_id") != wanted:
                return False
        return not self.team_alias or \
            self.team_alias.lower() in (item.get("team_alias") or "").lower()

    def expression(self) -> db.Filter | None:
        """The same test for a Query of a team-order index (team_id is never asked there)."""
        parts, names, values = [], {}, {}
        if self.organization_id is not None:
            names["#org"] = "organization_id"
            if self.organization_id == DEFAULT_ORGANIZATION:
                parts.append("attribute_not_exists(#org)")
            else:
                parts.append("#org = :org")
                values[":org"] = self.organization_id
        if self.team_alias:
            parts.append("contains(#alias, :alias)")
            names["#alias"] = "alias_lower"
            values[":alias"] = self.team_alias.lower()
        if not parts:
            return None
        return db.Filter(" AND ".join(f"({p})" for p in parts), names, values)


@dataclass(frozen=True)
class Order:
    sort_by: str = "created_at"
    descending: bool = False

    @property
    def index(self) -> str:
        return itemkeys.TEAM_ORDERS[self.sort_by]

    def key(self, team: dict) -> str:
        team_id = team["team_id"]
        if self.sort_by == "team_alias":
            return itemkeys.alias_order(team_id, team.get("team_alias"))
        if self.sort_by == "spend":
            return itemkeys.spend_order(team_id, team.get("spend"))
        return itemkeys.created_order(team_id, team["created_at"])


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the team with sort key `after` in this order."""

    order: Order
    after: str
    team_id: str
    page: int

    def encode(self) -> str:
        return cursors.encode([1, self.order.sort_by, self.order.descending, self.after,
                               self.team_id, self.page])

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        values = cursors.decode(text)
        if values is None or len(values) != 6:
            raise BadRequest("cursor is not a next_cursor this service returned")
        version, sort_by, descending, after, team_id, page = values
        if not (version == 1 and sort_by in itemkeys.TEAM_ORDERS
                and isinstance(descending, bool) and isinstance(after, str)
                and isinstance(team_id, str) and 0 < len(team_id) <= 256
                and after.endswith(f"#{team_id}") and len(after.encode()) <= 1024
                and type(page) is int and 1 < page < 10**9):
            raise BadRequest("cursor is not a next_cursor this service returned")
        return cls(Order(sort_by, descending), after, team_id, page)

    def start_key(self) -> dict:
        index = self.order.index
        return itemkeys.team(self.team_id) | {f"{index}PK": itemkeys.ALL_TEAMS,
                                              f"{index}SK": self.after}


# --- /v2/team/list -----------------------------------------------------------------------

def list_teams_page(actor: Actor, *, user_id: str | None, team_filter: TeamFilter,
                    order: Order, page: int, page_size: int, cursor: str | None,
                    explicit_order: bool) -> TeamPage:
    caller = actor.caller
    check_gate(caller, Action.TEAMS_LIST)  # then _scope: all teams, or only the caller's
    position = Cursor.decode(cursor) if cursor else None
    if position:
        if explicit_order and position.order != order:
            raise BadRequest("cursor belongs to another sort_by/sort_order; "
                             "send the same ones as for the page it came from")
        order, page = position.order, position.page
    scope = _scope(caller, user_id, team_filter.team_id)
    if scope is None:
        rows, more = _index_page(order, team_filter, page, page_size, position)
        where = team_filter.expression()
        total = teamstore.team_total() if where is None else \
            db.count(itemkeys.ALL_TEAMS, index=order.index, where=where)
    else:
        ordered = _ordered(scope, team_filter, order)
        rows, more = _memory_page(ordered, order, page, page_size, position)
        total = len(ordered)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = Cursor(order, order.key(last), last["team_id"], page + 1).encode()
    return TeamPage(teams=[teamstore.roster_team(r) for r in rows], total=total, page=page,
                    page_size=page_size, total_pages=math.ceil(total / page_size),
                    next_cursor=next_cursor)


def _scope(caller: Caller, user_id: str | None, team_id: str | None) -> list[str] | None:
    """The team ids the page is drawn from, or None for every team (the index path)."""
    if caller.reads_everything:
        scope = users.team_ids_of(user_id) if user_id else None
    else:
        # Own teams only (API.md); a user_id narrows them to the ones shared with that user.
        scope = users.team_ids_of(caller.user_id) if caller.user_id else [caller.team_id]
        if user_id and user_id != caller.user_id:
            theirs = set(users.team_ids_of(user_id))
            scope = [t for t in scope if t in theirs]
    if team_id is not None:
        scope = [team_id] if scope is None or team_id in scope else []
    return scope


def _ordered(team_ids: list[str], team_filter: TeamFilter, order: Order) -> list[dict]:
    items = db.batch_get([itemkeys.team(t) for t in dict.fromkeys(team_ids)]) if team_ids else []
    return sorted((i for i in items if team_filter.matches(i)), key=order.key,
                  reverse=order.descending)


def _memory_page(ordered: list[dict], order: Order, page: int, page_size: int,
                 position: Cursor | None) -> tuple[list[dict], bool]:
    if position:
        keys = [order.key(i) for i in ordered]
        if order.descending:  # bisect wants ascending: search the negated order
            start = len(keys) - bisect.bisect_left(keys[::-1], position.after)
        else:
            start = bisect.bisect_right(keys, position.after)
    else:
        start = (page - 1) * page_size
    return ordered[start:start + page_size], start + page_size < len(ordered)


def _index_page(order: Order, team_filter: TeamFilter, page: int, page_size: int,
                position: Cursor | None) -> tuple[list[dict], bool]:
    """One page of the team-order index: from the cursor, or after skipping the pages before
    `page` (which costs those pages: a cursor is the O(page) way)."""
    skip = 0 if position else (page - 1) * page_size
    rows = []
    for n, item in enumerate(_index_items(order, team_filter, position, skip + page_size + 1)):
        if n >= skip:
            rows.append(item)
    return rows[:page_size], len(rows) > page_size


def _index_items(order: Order, team_filter: TeamFilter, position: Cursor | None,
                 wanted: int) -> Iterator[dict]:
    """Up to `wanted` matching team items in index order, from the cursor on."""
    where = team_filter.expression()
    start_key = position.start_key() if position else None
    given = 0
    while given < wanted:
        limit = wanted - given if where is None else max(FILTER_CHUNK, wanted - given)
        items, start_key = db.query(itemkeys.ALL_TEAMS, index=order.index, limit=limit,
                                    forward=not order.descending, start_key=start_key,
                                    where=where)
        for item in items[:wanted - given]:
            given += 1
            yield item
        if not start_key:
            return


# --- /team/filter/ui ---------------------------------------------------------------------

def search_teams(actor: Actor, *, team_filter: TeamFilter, page: int,
                 page_size: int) -> list[Team]:
    """Admins' and viewers' search: alias partial and case-insensitive, newest first."""
    authorize(actor.caller, Action.TEAMS_SEARCH)
    order = Order("created_at", descending=True)
    if team_filter.team_id is not None:
        rows, _ = _memory_page(_ordered([team_filter.team_id], team_filter, order), order,
                               page, page_size, None)
    else:
        rows, _ = _index_page(order, team_filter, page, page_size, None)
    return [teamstore.roster_team(r) for r in rows]


# --- /team/list --------------------------------------------------------------------------

def list_teams(actor: Actor, user_id: str | None, organization_id: str | None) -> list[ListedTeam]:
    """Every team (or a user's) with all memberships and keys, sorted by alias. Read from
    GSI7, where each team's item, members and keys sit together: the whole table's teams in
    as many requests as their data fills 1 MB pages, a user's teams in one request each."""
    caller = actor.caller
    if not may_list_teams_of(caller, user_id):
        raise Unauthorized("Only admins may list all teams; pass your own user_id to list yours")
    if user_id:
        items = [i for team_id in dict.fromkeys(users.team_ids_of(user_id))
                 for i in db.query_all(itemkeys.TEAM_DATA, index="GSI7",
                                       sk_prefix=itemkeys.team_data_prefix(team_id))
                 if i.get("team_id") == team_id]
    else:
        items = db.query_all(itemkeys.TEAM_DATA, index="GSI7")
    groups: dict[str, dict] = {}
    for item in items:
        group = groups.setdefault(item["team_id"], {"team": None, "member": [], "key": []})
        if item.get("entity") == "team":
            group["team"] = item
        elif item.get("entity") in ("member", "key"):
            group[item["entity"]].append(item)
    wanted = TeamFilter(organization_id=organization_id)
    listed = [ListedTeam(**teamstore.to_team(TeamView(g["team"], g["member"])).model_dump(),
                         keys=[apikeys.listed(k) for k in g["key"]],
                         team_memberships=[teamstore.membership(m) for m in g["member"]])
              for g in groups.values() if g["team"] is not None and wanted.matches(g["team"])]
    return sorted(listed, key=lambda t: ((t.team_alias or "").lower(), t.team_id))
