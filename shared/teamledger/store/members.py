"""MemberStore: member items, one per (team, user) in the team's partition, each holding the
membership's spend and budget. A member add is a conditional put: two concurrent adds never
lose each other, and a member added twice is refused by DynamoDB itself."""

from teamledger.errors import ServiceError
from teamledger.store import counters, keys, table
from teamledger.store.marshal import Item
from teamledger.store.refs import MemberRef
from teamledger.store.table import Transaction


def _version_condition(member: Item) -> tuple[str, Item]:
    # Members written before versions existed have none: unchanged means still none.
    if "version" in member:
        return "attribute_exists(PK) AND #version = :v", {":v": member["version"]}
    return "attribute_exists(PK) AND attribute_not_exists(#version)", {}


class MemberStore:
    def put_new(self, tx: Transaction, member: Item, refusal: ServiceError) -> None:
        key = keys.member(member["team_id"], member["user_id"])
        tx.put(key | keys.member_index(member["team_id"], member["user_id"]) |
               {k: v for k, v in member.items() if k != "spend"} |
               keys.reset_index(key, member.get("budget_reset_at")) |
               {"entity": "member", "version": 1},
               condition="attribute_not_exists(PK)", refusal=refusal)

    def update(self, tx: Transaction, member: Item, changes: Item) -> Item:
        """Write `changes` on condition that the member is still the version read; returns
        the new item."""
        written = {k: v for k, v in changes.items() if k != "spend"} | {
            "version": member.get("version", 0) + 1}
        key = keys.member(member["team_id"], member["user_id"])
        ref = MemberRef(member["team_id"], member["user_id"])
        if "spend" in changes or "max_budget" in changes:  # a new period restarts the counter
            counters.rewrite(tx, ref, budget=changes.get("max_budget", counters.KEEP),
                             restart="spend" in changes)
        if "budget_reset_at" in changes:
            written |= {"GSI4PK": None, "GSI4SK": None} | keys.reset_index(
                key, changes["budget_reset_at"])
        condition, values = _version_condition(member)
        tx.update(key, written, condition=condition, values=values,
                  names={"#version": "version"})
        return {k: v for k, v in (member | changes | {"version": written["version"]}).items()
                if v is not None}

    def delete(self, tx: Transaction, member: Item) -> None:
        tx.delete(keys.member(member["team_id"], member["user_id"]),
                  condition="attribute_exists(PK)")
        counters.delete(tx, MemberRef(member["team_id"], member["user_id"]))

    def check_role(self, tx: Transaction, team_id: str, user_id: str, role: str,
                   refusal: ServiceError) -> None:
        """The user is still a member of the team, with this role, when `tx` commits."""
        tx.check(keys.member(team_id, user_id), "#role = :role", names={"#role": "role"},
                 values={":role": role}, refusal=refusal)

    def roles_of(self, user_id: str | None, team_ids: set[str]) -> dict[str, str]:
        """The user's role in each of these teams (one BatchGetItem)."""
        if not user_id or not team_ids:
            return {}
        items = table.batch_get([keys.member(t, user_id) for t in team_ids])
        return {i["team_id"]: i["role"] for i in items}

    def page_of(self, team_id: str, after: str | None, limit: int) -> tuple[list[Item], bool]:
        """Up to `limit` member items of the team after user id `after`, by user id, and
        whether more follow: Queries of the team partition's member keys, each with a Limit
        (O(page), whatever the team's size)."""
        query = table.Query(keys.team_partition(team_id), sk_prefix=keys.MEMBER_PREFIX,
                            sk_after=keys.member(team_id, after)["SK"] if after else None,
                            consistent=True)
        members: list[Item] = []
        start_key = None
        while len(members) <= limit:  # one more than the page: whether more follow
            items, start_key = query.page(limit=limit + 1 - len(members), start_key=start_key)
            members += [keys.without_keys(i) for i in items if i.get("entity") == "member"]
            if not start_key:
                break
        return members[:limit], len(members) > limit

    def team_ids_of(self, user_id: str) -> list[str]:
        """The user's teams, from their member items on GSI1 (never an array on the user)."""
        query = table.Query(keys.user_partition(user_id), index="GSI1",
                            sk_prefix=keys.TEAM_LINK_PREFIX)
        return [link["team_id"] for link in query.all()]
