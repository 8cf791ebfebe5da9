"""TeamOrderStore: every team in the orders of the list routes, and every team's data grouped.

- GSI3 (alias), GSI5 (created_at), GSI6 (spend): one partition `TEAMS` each, sort keys ending
  in `#<team_id>`, so ties are broken by team id and a page boundary is one exact key. Filters
  on organization and alias are FilterExpressions: they cost the items they pass over.
- GSI7 (`TEAMDATA`, `<team_id>#T|M#user|K#token`): each team's item, members and keys
  together, read in 1 MB pages by /team/list.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from teamledger.store import keys, table
from teamledger.store.marshal import Item
from teamledger.store.teams import ACTIVE, TeamView, roster_view

ORDERS = tuple(keys.TEAM_ORDERS)
FILTER_CHUNK = 100  # items a filtered Query evaluates per request
MAX_SORT_KEY_BYTES = 1024


@dataclass(frozen=True)
class TeamMatch:
    """What a listed team must match: an organization (or none at all) and a part of its
    alias, case-insensitive."""

    organization_id: str | None = None
    no_organization: bool = False
    alias_contains: str | None = None

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
    if sort_by == "spend":
        return keys.spend_order(team_id, team.get("spend"))
    return keys.created_order(team_id, team["created_at"])


def is_sort_key(sort_by: str, value: str, team_id: str) -> bool:
    """Whether `value` can be a sort key of that team in that order (a cursor's)."""
    return (sort_by in keys.TEAM_ORDERS and value.endswith(f"#{team_id}")
            and len(value.encode()) <= MAX_SORT_KEY_BYTES)


class TeamOrderStore:
    def teams(self, sort_by: str, descending: bool, match: TeamMatch,
              after: tuple[str, str] | None, wanted: int) -> Iterator[TeamView]:
        """Up to `wanted` matching teams in the order, after (sort key, team id) if given."""
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
                yield roster_view(item)
            if not start_key:
                return

    def count(self, sort_by: str, match: TeamMatch) -> int:
        """How many teams match (a Select=COUNT over the order: O(teams))."""
        return table.Query(keys.ALL_TEAMS, index=keys.TEAM_ORDERS[sort_by],
                           where=match.where()).count()

    def grouped(self, team_ids: list[str] | None) -> Iterator[Item]:
        """Team, member and key items of these teams (None: of every team), team by team."""
        if team_ids is None:
            items = table.Query(keys.TEAM_DATA, index="GSI7").all()
            yield from (keys.without_keys(i) for i in items)
            return
        for team_id in dict.fromkeys(team_ids):
            query = table.Query(keys.TEAM_DATA, index="GSI7",
                                sk_prefix=keys.team_data_prefix(team_id))
            yield from (keys.without_keys(i) for i in query.all() if i.get("team_id") == team_id)

    def place_spend(self, team_id: str, spend: float) -> bool:
        """The team's place in the spend order from the spend read back; skipped if the spend
        moved on meanwhile (its writer places it), so the last writer leaves it matching."""
        return table.update_if(keys.team(team_id), keys.spend_index(team_id, spend),
                               "#spend = :spend AND #status = :active",
                               values={":spend": spend or 0, ":active": ACTIVE},
                               names={"#spend": "spend", "#status": "status"})
