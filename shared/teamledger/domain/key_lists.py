"""GET /key/list: a page of keys in token order. Admins and viewers list every key; others
their own keys and the keys of their teams that let them (`team_member_permissions` with
`/key/list`, or as the team's admin).

Each source of keys (all keys, a user's, a team's) is an index partition in token order, read
from its start up to the page and COUNT_AHEAD keys past it: the page costs the pages before
it (no cursor in LiteLLM's API), and `total_count` is exact while at most COUNT_AHEAD keys
follow the page, a lower bound beyond (the next pages count further)."""

import math
from dataclasses import dataclass
from typing import Any

from teamledger import sizes
from teamledger.domain.callers import Actor, Caller
from teamledger.domain.keys import team_key_relations
from teamledger.domain.policy import Action, check_gate
from teamledger.domain.views import listed_key
from teamledger.errors import BadRequest
from teamledger.http.models import KeyPage
from teamledger.store import stores

Item = dict[str, Any]
COUNT_AHEAD = 1000  # keys counted past the page for total_count (about 0.6 MB of index read)


@dataclass(frozen=True)
class KeyQuery:
    page: int = 1
    size: int = 10
    user_id: str | None = None
    team_id: str | None = None
    key_alias: str | None = None
    return_full_object: bool = False


@dataclass(frozen=True)
class Source:
    """Keys of a team (narrowed to a user's), of a user, or (neither) of everyone."""

    user_id: str | None
    team_id: str | None


def _sources(caller: Caller, query: KeyQuery) -> list[Source]:
    if caller.reads_everything:
        return [Source(query.user_id, query.team_id)]
    sources = []
    if caller.user_id and query.user_id in (None, caller.user_id):
        sources.append(Source(caller.user_id, query.team_id))
    teams = {query.team_id} if query.team_id else set(
        stores().members.team_ids_of(caller.user_id) if caller.user_id else [])
    listable = team_key_relations(caller, "/key/list", teams)
    sources += [Source(query.user_id, t) for t in sorted(teams) if listable.get(t)]
    return sources


def _merged(sources: list[Source], limit: int, key_alias: str | None) -> tuple[list[Item], bool]:
    """The first keys of all sources together, each once, in token order; and whether more
    follow. A source cut at `limit` knows nothing past its last key, so the union holds only
    up to the lowest such key (still `limit` keys at least: that source's own)."""
    found: dict[str, Item] = {}
    cut: str | None = None
    for source in sources:
        items, more = stores().keys.first(limit, user_id=source.user_id,
                                          team_id=source.team_id, key_alias=key_alias)
        found |= {i["token"]: i for i in items}
        if more and items:
            cut = min(cut, items[-1]["token"]) if cut else items[-1]["token"]
    tokens = sorted(t for t in found if cut is None or t <= cut)
    return [found[t] for t in tokens], cut is not None


def list_keys(actor: Actor, query: KeyQuery) -> KeyPage:
    caller = actor.caller
    check_gate(caller, Action.KEYS_LIST)
    offset = (query.page - 1) * query.size
    keys, more = _merged(_sources(caller, query), offset + query.size + COUNT_AHEAD,
                         query.key_alias)
    page = keys[offset:offset + query.size]
    total = len(keys) + (1 if more else 0)
    answer: list[Any] = [k["token"] for k in page]
    if query.return_full_object:
        if sum(sizes.answer_size(k) for k in page) > sizes.PAGE_ANSWER_BYTES:
            raise BadRequest(f"these {len(page)} keys would answer more than "
                             f"{sizes.PAGE_ANSWER_BYTES:,} bytes; ask a smaller size")
        answer = [listed_key(k) for k in stores().counters.fill(page)]
    return KeyPage(keys=answer, total_count=total, current_page=query.page,
                   total_pages=max(1, math.ceil(total / query.size)))
