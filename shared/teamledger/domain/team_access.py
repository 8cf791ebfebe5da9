"""Who may act on a team, decided from its team item and the caller's member item alone (not
its whole partition): for the reads that need no more of the team, so their functions import
none of the team lifecycle (GET /team/members, GET /audit?team_id=)."""

from collections.abc import Callable

from teamledger.domain.callers import Caller
from teamledger.domain.policy import Action, authorize, check_gate, team_relations
from teamledger.store import stores
from teamledger.store.teams import ACTIVE


def authorize_by_gate(caller: Caller, action: Action, team_id: str,
                      known: Callable[[], bool] = lambda: False) -> None:
    """`action` on the team, from its team item (exists, active) and the caller's member item
    (its role; not read for admins and viewers, who need none). `known`: whether admins and
    viewers may still read a team that is not (a deleted team's audit history), asked only
    then."""
    check_gate(caller, action)
    team = stores().teams.gate(team_id)
    exists = team is not None and team.get("status") == ACTIVE
    role = None
    if exists and not caller.reads_everything:
        role = stores().members.roles_of(caller.user_id, {team_id}).get(team_id)
    elif not exists and caller.reads_everything:
        exists = known()
    authorize(caller, action, exists=exists, what=f"Team {team_id}",
              relations=team_relations(caller, team_id, role))
