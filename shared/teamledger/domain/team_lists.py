"""The list routes: GET /v2/team/list (pages), GET /team/filter/ui (search, newest first) and
GET /team/list (everything, with memberships and keys).

Two ways to a page:
- every team (admins and viewers, no narrowing to some teams): the team order of the requested
  sort, from the cursor, one page (+1 to know if there is more); the total is the team counter,
  or a count of the order when filtered by organization; an alias search reads the alias word
  index (every match, sorted here: O(matches), the exact total), or, when no alias has words
  starting so, scans the order for the text (bounded per request; the total a lower bound);
- some teams (a caller's own, a user's, one team_id): their team items in one batch read,
  sorted, filtered and cut in memory with the same sort keys and the same cursor.
List pages show each team's members from its roster (see TeamStore).
"""

import bisect
import math
from dataclasses import dataclass
from typing import Any

from teamledger import cursors, sizes
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.policy import (
    Action,
    authorize,
    check_gate,
    check_route,
    may_list_teams_of,
)
from teamledger.domain.views import listed_team, to_team
from teamledger.errors import BadRequest, Unauthorized
from teamledger.http.models import ListedTeam, Team, TeamPage
from teamledger.store import stores
from teamledger.store.alias_words import prefix_match, query_words
from teamledger.store.team_orders import TeamMatch, is_sort_key, sort_key
from teamledger.store.teams import ACTIVE, TeamView

Item = dict[str, Any]
DEFAULT_ORGANIZATION = "default_organization"  # LiteLLM's name for "no organization"
MAX_CURSOR = cursors.MAX_CURSOR
SORTS = ("created_at", "team_alias", "spend")
TOO_LARGE = (f"/team/list would answer more than {sizes.LIST_ANSWER_BYTES:,} bytes of teams, "
             "memberships and keys; use GET /v2/team/list, which pages (or narrow by user_id "
             "or organization_id)")


@dataclass(frozen=True)
class TeamFilter:
    """`team_alias` matches an alias whose words start with each of its words (case-insensitive;
    store/alias_words.py says what a word is), or, `substring`, that holds it."""

    team_id: str | None = None
    organization_id: str | None = None
    team_alias: str | None = None
    substring: bool = False

    @property
    def words(self) -> list[str]:
        return [] if self.substring else query_words(self.team_alias)

    def matches(self, team: Item) -> bool:
        if team.get("status") != ACTIVE:
            return False
        if self.team_id is not None and team["team_id"] != self.team_id:
            return False
        if self.organization_id is not None:
            wanted = None if self.organization_id == DEFAULT_ORGANIZATION else \
                self.organization_id
            if team.get("organization_id") != wanted:
                return False
        if not self.team_alias:
            return True
        if self.words:
            return prefix_match(team.get("team_alias"), self.words)
        return self.team_alias.lower() in (team.get("team_alias") or "").lower()

    def by_substring(self) -> "TeamFilter":
        return TeamFilter(self.team_id, self.organization_id, self.team_alias, substring=True)

    @property
    def narrows(self) -> bool:
        return self.organization_id is not None or bool(self.team_alias)

    def match(self) -> TeamMatch:
        """The same test as the team orders apply it (team_id is never asked there)."""
        no_organization = self.organization_id == DEFAULT_ORGANIZATION
        return TeamMatch(organization_id=None if no_organization else self.organization_id,
                         no_organization=no_organization, alias_contains=self.team_alias)


@dataclass(frozen=True)
class Order:
    sort_by: str = "created_at"
    descending: bool = False

    def key(self, team: Item) -> str:
        return sort_key(self.sort_by, team)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the team with sort key `after` in this order."""

    order: Order
    after: str
    team_id: str
    page: int
    found: int | None = None  # a substring search's: the matches of the pages before

    def encode(self) -> str:
        values = [1, self.order.sort_by, self.order.descending, self.after, self.team_id,
                  self.page]
        if self.found is not None:
            values = [2, *values[1:], self.found]
        return cursors.encode(values)

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        values = cursors.decode(text)
        if values is None or len(values) not in (6, 7) or values[0] != len(values) - 5:
            raise BadRequest("cursor is not a next_cursor this service returned")
        _, sort_by, descending, after, team_id, page, *found = values
        if not (sort_by in SORTS and isinstance(descending, bool)
                and isinstance(after, str) and isinstance(team_id, str)
                and 0 < len(team_id) <= 256 and is_sort_key(sort_by, after, team_id)
                and type(page) is int and 1 < page < 10**9
                and all(type(f) is int and 0 <= f < 10**9 for f in found)):
            raise BadRequest("cursor is not a next_cursor this service returned")
        return cls(Order(sort_by, descending), after, team_id, page, *found)


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
    found = Found([], False, 0)
    if scope is None and team_filter.team_alias:
        found = _alias_search(order, team_filter, page, page_size, position)
    elif scope is None:
        found.rows, found.more, found.total = _order_page(
            order, team_filter, page, page_size, position, with_total=not team_filter.narrows)
        if team_filter.narrows:
            found.total = stores().orders.count(order.sort_by, team_filter.match())
    else:
        ordered = _ordered(scope, team_filter, order)
        found.rows, found.more = _memory_page(ordered, order, page, page_size, position)
        found.total = len(ordered)
    fit = sizes.fitting([sizes.answer_size(r.team, r.members) for r in found.rows])
    if fit < len(found.rows):  # bounded: the rest on the next page
        found.rows, found.more, found.place = found.rows[:fit], True, None
    rows, total, next_cursor = found.rows, found.total, None
    counted = None if found.before is None else found.before + len(rows)
    if found.place is not None:
        next_cursor = Cursor(order, *found.place, page + 1, counted).encode()
    elif found.more and rows:
        last = rows[-1].team
        next_cursor = Cursor(order, order.key(last), last["team_id"], page + 1,
                             counted).encode()
    if counted is not None:  # a substring search's: what it found so far, and more to come
        total = counted + (1 if next_cursor else 0)
    return TeamPage(teams=[to_team(r) for r in rows], total=total, page=page,
                    page_size=page_size, total_pages=math.ceil(total / page_size),
                    next_cursor=next_cursor)


def _scope(caller: Caller, user_id: str | None, team_id: str | None) -> list[str] | None:
    """The team ids the page is drawn from, or None for every team (the order's path)."""
    team_ids_of = stores().members.team_ids_of
    scope: list[str] | None
    if caller.reads_everything:
        scope = team_ids_of(user_id) if user_id else None
    else:
        # Own teams only; a user_id narrows them to the ones shared with that user. A key whose
        # user has no row (no role) is only a key: its team's.
        scope = team_ids_of(caller.user_id) if caller.user_id and caller.role else \
            [caller.team_id] if caller.team_id else []
        if user_id and user_id != caller.user_id:
            theirs = set(team_ids_of(user_id))
            scope = [t for t in scope if t in theirs]
    if team_id is not None:
        scope = [team_id] if scope is None or team_id in scope else []
    return scope


def _ordered(team_ids: list[str], team_filter: TeamFilter, order: Order) -> list[TeamView]:
    """The caller's teams that match, sorted; an alias no word matched is searched as text."""
    views = stores().teams.listed(team_ids) if team_ids else []
    matching = [v for v in views if team_filter.matches(v.team)]
    if not matching and team_filter.words:
        matching = [v for v in views if team_filter.by_substring().matches(v.team)]
    return sorted(matching, key=lambda v: order.key(v.team), reverse=order.descending)


def _memory_page(ordered: list[TeamView], order: Order, page: int, page_size: int,
                 position: Cursor | None) -> tuple[list[TeamView], bool]:
    start = _start([order.key(v.team) for v in ordered], order, page, page_size, position)
    return ordered[start:start + page_size], start + page_size < len(ordered)


def _start(keys: list[str], order: Order, page: int, page_size: int,
           position: Cursor | None) -> int:
    """Where a page starts in these sorted keys: after the cursor's, or after earlier pages."""
    if not position:
        return (page - 1) * page_size
    if order.descending:  # bisect wants ascending: search the negated order
        return len(keys) - bisect.bisect_left(keys[::-1], position.after)
    return bisect.bisect_right(keys, position.after)


@dataclass
class Found:
    """A page of teams: whether more follow, the total; an alias search's place to go on
    from, and (a substring search's) how many matches the earlier pages held."""

    rows: list[TeamView]
    more: bool
    total: int
    place: tuple[str, str] | None = None
    before: int | None = None


def _alias_search(order: Order, team_filter: TeamFilter, page: int, page_size: int,
                  position: Cursor | None) -> Found:
    """Every team whose alias has words starting with the query's, from the word index
    (O(matches): sorted here, the exact total), then the page's teams in one read; a query
    no alias word starts (or one without words) scans the order for the text instead."""
    wanted = team_filter.words
    matched = stores().orders.word_matches(wanted, team_filter.match(), order.sort_by) \
        if wanted else []
    if not matched:
        return _substring_search(order, team_filter.by_substring(), page, page_size, position)
    matched.sort(key=order.key, reverse=order.descending)
    start = _start([order.key(m) for m in matched], order, page, page_size, position)
    shown = matched[start:start + page_size]
    views = {v.team_id: v for v in stores().teams.listed([m["team_id"] for m in shown])}
    rows = []
    for entry in shown:
        view = views.get(entry["team_id"])
        if view is not None:
            if "spend_order" in entry:  # its place in the order, as the cursor takes it
                view.team["spend_order"] = entry["spend_order"]
            rows.append(view)
    more = start + page_size < len(matched)
    last = shown[-1] if more and shown else None
    return Found(rows, more, len(matched),
                 place=(order.key(last), last["team_id"]) if last else None)


def _substring_search(order: Order, team_filter: TeamFilter, page: int, page_size: int,
                      position: Cursor | None) -> Found:
    """The order scanned for aliases holding the text, at most SCAN_ITEMS items a request:
    a page may hold fewer teams than asked (even none) and still a place to go on from; the
    total counts the matches so far (+1 while there may be more)."""
    skip = 0 if position else (page - 1) * page_size
    after = (position.after, position.team_id) if position else None
    views, place = stores().orders.scan(order.sort_by, order.descending, team_filter.match(),
                                        after, skip + page_size)
    rows = views[skip:]
    before = position.found or 0 if position else len(views) - len(rows)
    return Found(rows, place is not None, 0, place=place, before=before)


def _order_page(order: Order, team_filter: TeamFilter, page: int, page_size: int,
                position: Cursor | None,
                with_total: bool = False) -> tuple[list[TeamView], bool, int]:
    """One page of the team order: from the cursor, or after skipping the pages before `page`
    (which costs those pages: a cursor is the O(page) way); with the number of all teams, read
    along with the page's spend."""
    skip = 0 if position else (page - 1) * page_size
    after = (position.after, position.team_id) if position else None
    teams, total = stores().orders.page_with_total(
        order.sort_by, order.descending, team_filter.match(), after, skip + page_size + 1,
        total=with_total)
    rows = [view for n, view in enumerate(teams) if n >= skip]
    return rows[:page_size], len(rows) > page_size, total


# --- /team/filter/ui ---------------------------------------------------------------------

def search_teams(actor: Actor, *, team_filter: TeamFilter, page: int,
                 page_size: int) -> list[Team]:
    """Admins' and viewers' search: alias partial and case-insensitive, newest first."""
    authorize(actor.caller, Action.TEAMS_SEARCH)
    order = Order("created_at", descending=True)
    if team_filter.team_id is not None:
        rows, _ = _memory_page(_ordered([team_filter.team_id], team_filter, order), order,
                               page, page_size, None)
    elif team_filter.team_alias:  # the newest first of the index's matches, or of a scan
        rows = _alias_search(order, team_filter, page, page_size, None).rows
    else:
        rows, _, _ = _order_page(order, team_filter, page, page_size, None)
    if sum(sizes.answer_size(r.team, r.members) for r in rows) > sizes.PAGE_ANSWER_BYTES:
        raise BadRequest(f"these {len(rows)} teams would answer more than "
                         f"{sizes.PAGE_ANSWER_BYTES:,} bytes; ask a smaller page_size")
    return [to_team(r) for r in rows]


# --- /team/list --------------------------------------------------------------------------

def list_teams(actor: Actor, user_id: str | None, organization_id: str | None) -> list[ListedTeam]:
    """Every team (or a user's) with all memberships and keys, sorted by alias: the whole
    table's teams in as many requests as their data fills 1 MB pages, a user's teams in one
    request each."""
    caller = actor.caller
    check_route(caller)
    if not may_list_teams_of(caller, user_id):
        raise Unauthorized("Only admins may list all teams; pass your own user_id to list yours")
    team_ids = stores().members.team_ids_of(user_id) if user_id else None
    groups: dict[str, dict[str, Any]] = {}
    answer_bytes = 0
    for item in stores().orders.grouped(team_ids):
        answer_bytes += sizes.answer_size(item)
        if answer_bytes > sizes.LIST_ANSWER_BYTES:
            raise BadRequest(TOO_LARGE)
        group = groups.setdefault(item["team_id"], {"team": None, "member": [], "key": []})
        if item.get("entity") == "team":
            group["team"] = item
        elif item.get("entity") in ("member", "key"):
            group[item["entity"]].append(item)
    wanted = TeamFilter(organization_id=organization_id)
    # A user's teams show that user's membership only (as LiteLLM does), every member still.
    listed = [listed_team(TeamView(g["team"], g["member"]),
                          [m for m in g["member"] if not user_id or m["user_id"] == user_id],
                          g["key"])
              for g in groups.values() if g["team"] is not None and wanted.matches(g["team"])]
    # The alias order's own sort key, as /v2/team/list's: one order on every list.
    return sorted(listed, key=lambda t: sort_key("team_alias", {"team_id": t.team_id,
                                                                "team_alias": t.team_alias}))

