"""TeamOrderStore: every team in the orders of the list routes, and every team's data grouped.

- GSI3 (alias), GSI5 (created_at): one partition `TEAMS` each, sort keys ending in
  `#<team_id>`, so ties are broken by team id and a page boundary is one exact key. Filters
  on organization and alias are FilterExpressions: they cost the items they pass over. Only
  admin changes write them (a call never rewrites a team item).
- GSI6 (spend): a small item per team (`SPENDORDER#<team_id>`), placed by the spend-order
  consumer of the table's stream (eventually consistent, one write per team per batch), in
  SPEND_ORDER_SHARDS partitions that a page merges.
- GSI7 (`TEAMDATA`, `<team_id>#T|M#user|K#token`): each team's item, members and keys
  together, read in 1 MB pages by /team/list.
- The alias word index (store/alias_words.py): the teams whose alias has words starting with
  a query's, in O(matches); `scan` is the substring fallback, bounded in items read.
"""

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from teamledger import money
from teamledger.store import alias_words, counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.teams import TeamView, roster_view, with_rosters

ORDERS = tuple(keys.TEAM_ORDERS)
FILTER_CHUNK = 100  # items a filtered Query evaluates per request
FILL_BATCH = 100  # /team/list: items whose counters one BatchGetItem reads
SCAN_ITEMS = 1000  # the substring fallback: items of an order one request reads at most
MAX_SORT_KEY_BYTES = 1024


@dataclass(frozen=True)
class TeamMatch:
    """What a listed team must match: an organization (or none at all) and a part of its
    alias, case-insensitive."""

    organization_id: str | None = None
    no_organization: bool = False
    alias_contains: str | None = None

    def test(self, team: Item) -> bool:
        """The same test in memory (on a team item read whole)."""
        if self.no_organization and team.get("organization_id") is not None:
            return False
        if self.organization_id is not None and team.get("organization_id") != \
                self.organization_id:
            return False
        return not self.alias_contains or \
            self.alias_contains.lower() in (team.get("team_alias") or "").lower()

    def in_organization(self, team: Item) -> bool:
        return TeamMatch(self.organization_id, self.no_organization).test(team)

    def where(self) -> table.Filter | None:
        parts, names, values = [], {}, {}
        if self.no_organization:
            parts.append("attribute_not_exists(#org)")
            names["#org"] = "organization_id"
        elif self.organization_id is not None:
            parts.append("#org = :org")
            names["#org"] = "organization_id"
            values[":org"] = self.organization_id
        if self.alias_contains:
            parts.append("contains(#alias, :alias)")
            names["#alias"] = "alias_lower"
            values[":alias"] = self.alias_contains.lower()
        if not parts:
            return None
        return table.Filter(" AND ".join(f"({p})" for p in parts), names, values)


def sort_key(sort_by: str, team: Item) -> str:
    """The team's place in an order: the index's sort key itself."""
    team_id = team["team_id"]
    if sort_by == "team_alias":
        return keys.alias_order(team_id, team.get("team_alias"))
    if sort_by == "spend":  # where the spend order placed it (else: as its counter says)
        return str(team.get("spend_order") or keys.spend_order(
            team_id, money.units(team.get("spend") or 0)))
    return keys.created_order(team_id, team["created_at"])


def is_sort_key(sort_by: str, value: str, team_id: str) -> bool:
    """Whether `value` can be a sort key of that team in that order (a cursor's)."""
    return (sort_by in keys.TEAM_ORDERS and value.endswith(f"#{team_id}")
            and len(value.encode()) <= MAX_SORT_KEY_BYTES)


class TeamOrderStore:
    def teams(self, sort_by: str, descending: bool, match: TeamMatch,
              after: tuple[str, str] | None, wanted: int) -> list[TeamView]:
        """Up to `wanted` matching teams in the order, after (sort key, team id) if given, with
        their spend from their counters."""
        return self.page_with_total(sort_by, descending, match, after, wanted, total=False)[0]

    def page_with_total(self, sort_by: str, descending: bool, match: TeamMatch,
                        after: tuple[str, str] | None, wanted: int,
                        total: bool = True) -> tuple[list[TeamView], int]:
        """`teams`, and the number of teams (the counter shards, read in the same BatchGetItem
        as the page's counters: a page is 2 requests, 5 by spend)."""
        shards = [keys.team_counter_shard(n) for n in range(keys.COUNTER_SHARDS)] if total else []
        if sort_by == "spend":
            views, along, _ = self._by_spend(descending, match, after, wanted, shards)
        else:
            views, along = self._views(
                list(self._ordered(sort_by, descending, match, after, wanted)), shards)
        return views, int(sum(s.get("team_count", 0) for s in along if s.get("SK", "")
                              .startswith("SHARD#")))

    def word_matches(self, wanted: list[str], match: TeamMatch, sort_by: str) -> list[Item]:
        """The teams whose alias has, for each word of `wanted`, a word starting with it, as
        their index entries hold them (team_id, team_alias, organization_id, created_at; by
        spend also `spend_order`, their place in that order): every entry of the longest
        word's prefix is read (O(its matches)), the other words and the organization are
        tested on the entries."""
        found: dict[str, Item] = {}
        for entry in alias_words.starting(max(wanted, key=len)):
            if entry["team_id"] not in found and match.in_organization(entry) and \
                    alias_words.prefix_match(entry.get("team_alias"), wanted):
                found[entry["team_id"]] = {f: entry.get(f) for f in alias_words.INDEXED}
        if sort_by == "spend" and found:
            places = {i["team_id"]: i.get("GSI6SK") for i in table.batch_get(
                [keys.spend_order_item(t) for t in found])}
            for team_id, team in found.items():
                team["spend_order"] = places.get(team_id) or keys.spend_order(team_id, 0)
        return list(found.values())

    def scan(self, sort_by: str, descending: bool, match: TeamMatch,
             after: tuple[str, str] | None, wanted: int,
             budget: int | None = None) -> tuple[list[TeamView], tuple[str, str] | None]:
        """Up to `wanted` matching teams of the order after `after`, reading at most `budget`
        of its items; and the place to go on from (the last team returned, or the last one
        read when the budget ran out first; None at the order's end)."""
        budget = SCAN_ITEMS if budget is None else budget
        if sort_by == "spend":
            spent = self._by_spend(descending, match, after, wanted, [], budget)
            return spent[0], spent[2]
        index = keys.TEAM_ORDERS[sort_by]
        start_key = None if after is None else \
            keys.team(after[1]) | {f"{index}PK": keys.ALL_TEAMS, f"{index}SK": after[0]}
        query = table.Query(keys.ALL_TEAMS, index=index, forward=not descending,
                            where=match.where())
        items: list[Item] = []
        read = 0
        place: tuple[str, str] | None = None
        chunk = max(FILTER_CHUNK, wanted)
        while True:
            limit = min(budget - read, chunk)
            page, start_key = query.page(limit, start_key)
            read, chunk = read + limit, chunk * 2  # few requests, little read past a full page
            needed = wanted - len(items)
            items += page[:needed]
            if len(page) >= needed:  # full: go on after the last one, unless nothing follows
                if len(page) > needed or start_key:
                    place = (items[-1][f"{index}SK"], items[-1]["team_id"])
                break
            if not start_key:
                break
            if read >= budget:
                place = (start_key[f"{index}SK"], keys.team_of_key(start_key["PK"]))
                break
        return self._views([keys.without_keys(i) for i in items], [])[0], place

    def _views(self, items: list[Item],
               shards: list[Item]) -> tuple[list[TeamView], list[Item]]:
        """The teams with their rosters and spend, and `shards` read in the same request."""
        along = counters.CounterStore().fill_along(
            items, [keys.roster(i["team_id"]) for i in items] + shards)
        rosters = {i["team_id"]: i.get("roster") or {} for i in along
                   if i.get("entity") == "roster"}
        return [roster_view(i | {"roster": rosters.get(i["team_id"], {})}) for i in items], along

    def _ordered(self, sort_by: str, descending: bool, match: TeamMatch,
                 after: tuple[str, str] | None, wanted: int) -> Iterator[Item]:
        index = keys.TEAM_ORDERS[sort_by]
        start_key: Item | None = None
        if after is not None:
            start_key = keys.team(after[1]) | {f"{index}PK": keys.ALL_TEAMS,
                                               f"{index}SK": after[0]}
        query = table.Query(keys.ALL_TEAMS, index=index, forward=not descending,
                            where=match.where())
        given = 0
        while given < wanted:
            limit = wanted - given if query.where is None else max(FILTER_CHUNK, wanted - given)
            items, start_key = query.page(limit, start_key)
            for item in items[:wanted - given]:
                given += 1
                yield keys.without_keys(item)
            if not start_key:
                return

    def _by_spend(self, descending: bool, match: TeamMatch, after: tuple[str, str] | None,
                  wanted: int, along: list[Item], budget: int | None = None,
                  ) -> tuple[list[TeamView], list[Item], tuple[str, str] | None]:
        """The spend order's shards merged: each shard's next entries after the cursor (a key
        condition, so any shard can start after a key it does not hold), then the teams' items
        in one BatchGetItem, filtered as the other orders filter; at most `budget` entries
        read, and the place to go on from (as `scan`'s)."""
        views: list[TeamView] = []
        read_along: list[Item] = []
        cursor = after[0] if after else None
        place: tuple[str, str] | None = None
        read = 0
        while len(views) < wanted:
            chunk = wanted - len(views) if match.where() is None else \
                max(FILTER_CHUNK, wanted - len(views))
            if budget is not None:
                chunk = min(chunk, budget - read)
            entries = heapq.merge(*(self._shard(n, descending, cursor, chunk)
                                    for n in range(keys.SPEND_ORDER_SHARDS)),
                                  key=lambda e: e["GSI6SK"], reverse=descending)
            page = list(itertools.islice(entries, chunk))
            if not page:
                place = None
                break
            read += len(page)
            cursor = page[-1]["GSI6SK"]
            place = (cursor, page[-1]["team_id"])
            fetched = counters.CounterStore().read_with_spend(
                [keys.team(e["team_id"]) for e in page],
                along=along + [keys.roster(e["team_id"]) for e in page])
            along = []  # read once, with the first page of teams
            read_along += [i for i in fetched if i.get("entity") not in ("team", "roster")]
            found = with_rosters(fetched)
            for entry in page:
                team = found.get(entry["team_id"])
                if team is None or not match.test(team):
                    continue
                # The place the page came from (the cursor's), not the counter read later.
                views.append(roster_view(team | {"spend_order": entry["GSI6SK"]}))
                if len(views) == wanted:
                    place = (entry["GSI6SK"], entry["team_id"])
                    break
            if len(page) < chunk:
                place = None if len(views) < wanted else place
                break
            if budget is not None and read >= budget:
                break
        if along:  # no team at all: the shards alone
            read_along = table.batch_get(along)
        return views, read_along, place

    def _shard(self, shard: int, descending: bool, after: str | None,
               limit: int) -> list[Item]:
        query = table.Query(keys.spend_order_shard(shard), index="GSI6", forward=not descending,
                            sk_after=after)
        items, _ = query.page(limit)
        return items

    def count(self, sort_by: str, match: TeamMatch) -> int:
        """How many teams match (a Select=COUNT over the order: O(teams))."""
        if sort_by == "spend":
            sort_by = "created_at"  # every team is in each order; the spend order's items
            # do not hold what a filter tests
        return table.Query(keys.ALL_TEAMS, index=keys.TEAM_ORDERS[sort_by],
                           where=match.where()).count()

    def grouped(self, team_ids: list[str] | None) -> Iterator[Item]:
        """Team, member and key items of these teams (None: of every team), team by team, with
        their spend; read as they are used (a caller that stops early reads no further)."""
        if team_ids is None:
            batch: list[Item] = []
            for item in table.Query(keys.TEAM_DATA, index="GSI7").all():
                batch.append(keys.without_keys(item))
                if len(batch) == FILL_BATCH:  # a BatchGetItem's 100 counters
                    yield from counters.CounterStore().fill(batch)
                    batch = []
            yield from counters.CounterStore().fill(batch)
            return
        for team_id in dict.fromkeys(team_ids):
            query = table.Query(keys.TEAM_DATA, index="GSI7",
                                sk_prefix=keys.team_data_prefix(team_id))
            yield from counters.CounterStore().fill(
                [keys.without_keys(i) for i in query.all() if i.get("team_id") == team_id])

    # --- the spend order's items (TeamStore writes a team's first and removes its last) -----

    def place_spend(self, team_id: str, spend_units: int) -> bool:
        """The team's place in the spend order (the stream consumer's write, off the call
        path); skipped for a team whose place is gone (deleted)."""
        return table.update_if(keys.spend_order_item(team_id),
                               keys.spend_index(team_id, spend_units) | {"spend": spend_units},
                               "attribute_exists(PK) AND #spend <> :spend",
                               values={":spend": spend_units}, names={"#spend": "spend"})
