"""docs/api.md covers the API as it is: a `### METHOD /path` section for every route of
template.yaml and every operation of docs/openapi.json, none for a route that does not exist,
and in each section every body field and query parameter the document gives that route."""

import json
import re

from tests.support.template import REPO_ROOT, load_template, routes

REFERENCE = REPO_ROOT / "docs" / "api.md"
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
ROUTE_HEADING = re.compile(r"### (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)")
ANY_HEADING = re.compile(r"#{1,3} ")  # a #### heading stays inside its route's section
FENCE = "```"


def route_sections(text: str) -> dict[tuple[str, str], str]:
    """(METHOD, /path) -> the text under its `### METHOD /path` heading, up to the next heading
    of level 1 to 3 (lines in fenced code blocks are never headings). A route heading that
    appears twice is an error: two sections would each hold half of the truth."""
    sections: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    in_code = False
    for line in text.splitlines():
        if line.startswith(FENCE):
            in_code = not in_code
        elif not in_code and ANY_HEADING.match(line):
            route = ROUTE_HEADING.fullmatch(line.strip())
            current = None
            if route:
                key = (route.group(1), route.group(2))
                assert key not in sections, f"docs/api.md has two sections for {key}"
                current = sections[key] = []
            continue
        if current is not None:
            current.append(line)
    return {key: "\n".join(lines) for key, lines in sections.items()}


def reference_sections() -> dict[tuple[str, str], str]:
    return route_sections(REFERENCE.read_text(encoding="utf-8"))


def template_routes() -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in routes(load_template())}


def document_operations() -> dict[tuple[str, str], dict]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return {(method.upper(), path): operation
            for path, operations in document["paths"].items()
            for method, operation in operations.items()}


def request_fields(operation: dict) -> set[str]:
    """The query parameters and the top-level body properties of one operation."""
    schemas = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return names | set(schema.get("properties", {}))


def test_every_route_of_the_template_has_a_section():
    # Given the HttpApi routes of template.yaml and the sections of docs/api.md
    sections = reference_sections()
    # Then each route has its `### METHOD /path` section
    missing = sorted(template_routes() - set(sections))
    assert not missing, f"docs/api.md has no section for {missing}"


def test_every_operation_of_the_openapi_document_has_a_section():
    # Given the operations of docs/openapi.json and the sections of docs/api.md
    sections = reference_sections()
    # Then each path and method has its section
    missing = sorted(set(document_operations()) - set(sections))
    assert not missing, f"docs/api.md has no section for {missing}"


def test_no_section_describes_a_route_that_does_not_exist():
    # Given the sections of docs/api.md
    # Then each is a route of template.yaml (a removed route takes its section with it)
    stale = sorted(set(reference_sections()) - template_routes())
    assert not stale, f"docs/api.md describes routes template.yaml does not have: {stale}"


def test_each_section_names_every_request_field_of_its_operation():
    # Given each operation's query parameters and body properties in docs/openapi.json
    sections = reference_sections()
    missing = {}
    for route, operation in sorted(document_operations().items()):
        section = sections.get(route, "")
        # Then its section in docs/api.md names each one, as `code`
        unnamed = sorted(name for name in request_fields(operation)
                         if f"`{name}`" not in section)
        if unnamed:
            missing[f"{route[0]} {route[1]}"] = unnamed
    assert not missing, f"docs/api.md does not name these request fields: {missing}"


def test_the_section_reader_ends_a_section_at_the_next_heading_outside_code():
    # Given a reference with two routes, a subheading and a fenced `#` comment
    text = "\n".join([
        "## Teams", "### GET /a", "`x` here", "#### Example", "```sh", "# not a heading",
        "```", "### POST /b", "`y` here", "## Other", "`z` is nobody's"])
    # When it is read
    sections = route_sections(text)
    # Then each section holds its own lines only
    assert set(sections) == {("GET", "/a"), ("POST", "/b")}
    assert "`x`" in sections[("GET", "/a")] and "# not a heading" in sections[("GET", "/a")]
    assert "`y`" in sections[("POST", "/b")] and "`z`" not in sections[("POST", "/b")]
