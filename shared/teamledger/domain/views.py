"""How stored entities look in answers: Team, TeamMembership, Key and User as the wire
models define them."""

from typing import Any

from teamledger.http.models import BudgetTable, Key, ListedTeam, MemberOut, Team, TeamMembership
from teamledger.store.teams import TeamView

Item = dict[str, Any]
TEAM_FIELDS = tuple(f for f in Team.model_fields
                    if f not in ("admins", "members", "members_with_roles", "litellm_model_table"))
BUDGET_FIELDS = tuple(BudgetTable.model_fields)
KEY_FIELDS = tuple(Key.model_fields)
MEMBERS_SHOWN = 1000  # members_with_roles of a team's answers (as /team/info's page)
USER_FIELDS = ("user_id", "user_email", "user_role", "max_budget", "spend", "budget_duration",
               "budget_reset_at", "models", "metadata", "created_at")


def team_public(item: Item) -> Item:
    values = {k: item.get(k) for k in TEAM_FIELDS}
    values["litellm_model_table"] = item.get("litellm_model_table")
    return values


def member_public(item: Item) -> Item:
    return {"user_id": item["user_id"], "user_email": item.get("user_email"),
            "role": item["role"]}


def user_public(item: Item) -> Item:
    return {k: item.get(k) for k in USER_FIELDS} | {"spend": item.get("spend") or 0.0}


def membership(item: Item) -> TeamMembership:
    budget = None
    if item.get("budget_id"):
        budget = BudgetTable(**{k: item.get(k) for k in BUDGET_FIELDS})
    return TeamMembership(user_id=item["user_id"], team_id=item["team_id"],
                          budget_id=item.get("budget_id"), spend=item.get("spend") or 0.0,
                          litellm_budget_table=budget)


def to_team(view: TeamView) -> Team:
    """Members in the order they joined (a roster's are in that order already), the first
    MEMBERS_SHOWN of them: a team's answers stay bounded (/team/info and /team/members show
    every member, by pages). `admins` and `members` stay [] (deprecated in LiteLLM, which never
    fills them): clients read `members_with_roles`."""
    members = sorted(view.members, key=lambda m: (m.get("joined_at", ""), m.get("join_order", 0)))
    members = members[:MEMBERS_SHOWN]
    return Team(**{k: v for k, v in team_public(view.team).items() if v is not None},
                members_with_roles=[MemberOut(**member_public(m)) for m in members])


def listed_team(view: TeamView, members: list[Item], key_items: list[Item]) -> ListedTeam:
    """A team with the memberships and keys given (all of them, or one user's)."""
    return ListedTeam(**to_team(view).model_dump(), keys=[listed_key(k) for k in key_items],
                      team_memberships=[membership(m) for m in members])


def listed_key(item: Item) -> Key:
    """`token_id` is the token (LiteLLM's two names); keys stored before `updated_at` was kept
    answer their `created_at`."""
    values = {k: item.get(k) for k in KEY_FIELDS if item.get(k) is not None}
    return Key(**values | {"token_id": item["token"],
                           "updated_at": item.get("updated_at") or item["created_at"]})
