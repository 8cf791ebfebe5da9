"""Reading the team lists page by page in tests: one page of /v2/team/list (or another list
route), and every page by next_cursor, checking each page's number on the way."""


def page(api, key=None, path="/v2/team/list", **query) -> dict:
    kwargs = {"key": key} if key else {}
    return api.ok(api.get(path, query={k: str(v) for k, v in query.items()}, **kwargs))


def walk(api, key=None, **query) -> list[dict]:
    """Every page by next_cursor; checks each page's bookkeeping on the way."""
    pages, cursor = [], None
    while True:
        found = page(api, key, **query, **({"cursor": cursor} if cursor else {}))
        pages.append(found)
        assert found["page"] == len(pages)
        cursor = found["next_cursor"]
        if cursor is None:
            return pages


def ids(teams: list[dict]) -> list[str]:
    return [t["team_id"] for t in teams]
