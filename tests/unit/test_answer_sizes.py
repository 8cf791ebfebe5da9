"""The worst-case answer of the member pages (GET /team/info's members, GET /team/members),
built from the size limits of `sizes.py` with the characters that JSON escapes longest, stays
far under Lambda's 6 MB answer limit; and /team/list's bound leaves room for what an answer
adds to the entities it counted."""

import json
import re
import uuid
from functools import partial

from aws_lambda_powertools.shared.json_encoder import Encoder
from teamledger import sizes
from teamledger.domain import teams
from teamledger.http.models import (
    ID_PATTERN,
    BudgetTable,
    MemberOut,
    TeamMembership,
    TeamMembersPage,
)

LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024
# As Powertools serializes an answer: compact, non-ASCII escaped (\uXXXX: 6 bytes for the 2
# bytes of U+00A1 in UTF-8, 3 times; an astral character 12 for 4).
serialize = partial(json.dumps, separators=(",", ":"), cls=Encoder)
WIDE = "\u00a1"  # 2 bytes of UTF-8, 6 of JSON: the most an id's byte can become


def _longest_id() -> str:
    text = WIDE * (sizes.ID_BYTES // 2)
    assert re.match(ID_PATTERN, text) and sizes.utf8_size(text) == sizes.ID_BYTES
    return text


def _longest_email() -> str:
    side = WIDE * ((sizes.EMAIL_BYTES - 1) // 4)
    return f"{side}@{side}"


def _worst_page() -> TeamMembersPage:
    team_id = _longest_id()
    members, memberships = [], []
    for n in range(teams.MEMBERS_PAGE):
        user_id = f"{n:04d}" + _longest_id()[4:]
        members.append(MemberOut(user_id=user_id, user_email=_longest_email(), role="admin"))
        memberships.append(TeamMembership(
            user_id=user_id, team_id=team_id, budget_id=str(uuid.uuid4()), spend=1e15 / 3,
            litellm_budget_table=BudgetTable(max_budget=1e15 / 3, budget_duration="1000000d",
                                             budget_reset_at="2026-12-02T00:00:00.000000Z")))
    return TeamMembersPage(team_id=team_id, members=members, team_memberships=memberships,
                           next_cursor="A" * 2048)


def test_a_members_page_at_every_limit_stays_under_4_mb():
    # Given a page of 1,000 members whose ids and emails are the longest and escape the longest
    page = _worst_page()
    # When it is serialized as the answer is
    size = len(serialize(page.model_dump()))
    # Then it stays under 4 MB (3.6 MB; ASCII ids and emails of usual length: about 0.5 MB),
    # leaving 2 MB of Lambda's 6 MB to /team/info's team (at every cap, escaped: 0.3 MB)
    assert size < 4_000_000, size


def test_team_list_bound_and_what_an_answer_adds_stay_under_lambdas_answer():
    # An entity counted at its escaped JSON plus ANSWER_ENTRY_BYTES: what the answer adds to
    # an entity (its null fields) fits that room, and the bound is half of Lambda's limit
    assert sizes.LIST_ANSWER_BYTES <= LAMBDA_ANSWER_BYTES / 2
    empty_membership = serialize(TeamMembership(user_id="", team_id="").model_dump())
    assert len(empty_membership) < sizes.ANSWER_ENTRY_BYTES
