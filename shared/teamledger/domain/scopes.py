"""The budgets a key's spend counts against (its scopes), by name, in the order steps take
them."""

from typing import Any

from teamledger.store.refs import KeyRef, MemberRef, Ref, TeamRef, UserRef

ORDER = ("key", "user", "team_membership", "team")


def stable_id(key: dict[str, Any]) -> str:
    """A key's id for its counter, its reservations and its audit records: `key_id`, its
    first token (keys stored before regeneration existed have none: their token is it)."""
    return str(key.get("key_id") or key["token"])


def scopes_of(key: dict[str, Any]) -> dict[str, Ref]:
    """A key's scopes: itself (by its stable id, which regenerating it keeps), its user, the
    user's membership in its team, its team."""
    user_id, team_id = key.get("user_id"), key.get("team_id")
    scopes: dict[str, Ref] = {"key": KeyRef(stable_id(key))}
    if user_id:
        scopes["user"] = UserRef(user_id)
    if user_id and team_id:
        scopes["team_membership"] = MemberRef(team_id, user_id)
    if team_id:
        scopes["team"] = TeamRef(team_id)
    return scopes
