"""docs/openapi.json: one OpenAPI document for every HttpApi route of template.yaml.

Each route function's own resolver (Powertools, `enable_validation=True`) describes its paths,
parameters, bodies and models; Powertools' `OpenAPIMerge` puts them into one document. The error
answers are then described as the layer really sends them (teamledger/api.py), which is not what
Powertools assumes: its 422 schema has no `msg`, and 401/403/400/404/413/503 it does not know.

`python -m tests.support.openapi` (`make openapi`) writes the file; tests/unit/test_openapi.py
fails when the committed file is not what the code generates.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from tests.support.template import REPO_ROOT, Route, load_template, routes

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
TITLE = "TeamLedger"
DESCRIPTION = (
    "LiteLLM-compatible team, user, key and budget management on AWS Lambda. The wire contract "
    "(roles, order of checks, fixed LiteLLM bugs) is docs/api.md; this document is generated from "
    "the route functions by `make openapi`.")
SCHEMAS = "#/components/schemas/"
RESPONSES = "#/components/responses/"
JSON = "application/json"
SECURITY_SCHEME = "bearerKey"
# Served without a key (lambda_entry(app, public=True)); tests check that all others answer 401.
PUBLIC_ROUTES = frozenset({("GET", "/health/liveliness")})
# The admin console's files (functions/ui): HTML, scripts and styles without a key, not the JSON
# API, so not in the document (a browser is their client; tests/integration/test_console_files.py
# and tests/browser test them).
CONSOLE_ROUTES = frozenset({("GET", "/ui"), ("GET", "/ui/{proxy+}")})


def api_routes(template: dict) -> list[Route]:
    """template.yaml's routes of the JSON API: all but the console's files."""
    return [r for r in routes(template) if (r.method, r.path) not in CONSOLE_ROUTES]


# Business rules (400), unknown objects (404) and route-specific reasons for a shared status, by
# route, and why: read from the layer (where it raises BadRequest, NotFound, Unauthorized, and
# policy.check_known). An unknown object is 404 for admins and viewers only; everyone else gets
# 403 (no probing).
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("POST", "/team/new"): {
        400: "team_id already exists; bad budget_duration; budget or limits negative or out "
             "of range; a member without user_id or user_email, ambiguous or listed twice; "
             "an email that belongs to another user than the user_id named with it, or is not "
             "that existing user's; metadata, model_aliases or models over its size as JSON"},
    ("POST", "/team/update"): {
        400: "bad budget_duration; budget or limits negative or out of range; metadata (with "
             "tags and guardrails), model_aliases or models over its size as JSON",
        403: "the caller may not manage the team; or a team admin would change its max_budget, "
             "budget_duration, tpm_limit, rpm_limit or max_parallel_requests, or unblock a "
             "team an admin blocked (admins only)",
        404: "unknown team_id"},
    ("PATCH", "/team/{team_id}"): {
        400: "a team_id in the body that is not the path's; bad budget_duration; budget or "
             "limits negative or out of range; metadata (with tags and guardrails), "
             "model_aliases or models over its size as JSON",
        403: "the caller may not manage the team; or a team admin would change its max_budget, "
             "budget_duration, tpm_limit, rpm_limit or max_parallel_requests, or unblock a "
             "team an admin blocked (admins only)",
        404: "unknown team_id"},
    ("POST", "/team/block"): {404: "unknown team_id"},
    ("POST", "/team/unblock"): {
        403: "the caller may not manage the team; or a team admin would unblock a team an "
             "admin blocked (admins only)",
        404: "unknown team_id"},
    ("POST", "/team/delete"): {
        400: "the teams are too large to mark deleted in one transaction (name fewer)",
        404: "any unknown team_id (nothing is deleted)"},
    ("POST", "/team/member_add"): {
        400: "already a member; bad max_budget_in_team or budget_duration; a member without "
             "user_id or user_email, ambiguous or listed twice; an email that belongs to "
             "another user than the user_id named with it, or is not that existing user's; a "
             "self-join with an email not the caller's",
        404: "unknown team_id"},
    ("POST", "/team/bulk_member_add"): {
        400: "no members, or more than 500; bad max_budget_in_team", 404: "unknown team_id"},
    ("POST", "/team/member_delete"): {
        400: "not a member; neither user_id nor user_email; an ambiguous email",
        404: "unknown team_id"},
    ("POST", "/team/member_update"): {
        400: "not a member (an unknown user included); neither user_id nor user_email; bad "
             "max_budget_in_team or budget_duration",
        404: "unknown team_id"},
    ("POST", "/team/model/add"): {400: "more than 1000 models, or models over 16 KiB as JSON",
                                  404: "unknown team_id"},
    ("POST", "/team/model/delete"): {404: "unknown team_id"},
    ("GET", "/team/permissions_list"): {404: "unknown team_id"},
    ("POST", "/team/permissions_update"): {404: "unknown team_id"},
    ("GET", "/team/info"): {
        400: "the team's keys would answer more than 1,500,000 bytes (list them with "
             "/key/list?team_id=)",
        404: "unknown team_id"},
    ("GET", "/team/members"): {400: "a cursor this service did not return, or another team's",
                               404: "unknown team_id"},
    ("GET", "/team/list"): {
        400: "the answer would pass 3,000,000 bytes: use /v2/team/list, which pages",
        401: "no key or a refused key (see Unauthorized); or a caller who is not an admin or "
             "viewer and does not pass their own user_id"},
    ("GET", "/v2/team/list"): {
        400: "a cursor this service did not return, or one of another sort_by/sort_order"},
    ("POST", "/user/new"): {
        400: "user_id already exists; user_email belongs to another user (in any case); bad "
             "budget_duration; budget negative or out of range; metadata or models over its "
             "size as JSON",
        404: "a team in teams does not exist"},
    ("GET", "/user/info"): {
        400: "no user_id and the key has no user; the user's teams and keys would answer more "
             "than 3,000,000 bytes (page them with /v2/team/list and /key/list)",
        404: "unknown user_id"},
    ("GET", "/user/list"): {400: "the page would answer more than 3,000,000 bytes"},
    ("GET", "/team/filter/ui"): {400: "the page would answer more than 3,000,000 bytes"},
    ("GET", "/key/list"): {
        400: "the page of full objects would answer more than 3,000,000 bytes"},
    ("POST", "/user/update"): {
        400: "neither user_id nor user_email; an email two older users share; user_email "
             "belongs to another user (in any case); bad budget_duration; budget negative or "
             "out of range; metadata or models over its size as JSON",
        403: "the caller may not change the user; or a user would change their own user_role, "
             "max_budget, budget_duration or models (admins only)",
        404: "unknown user (by user_id or user_email)"},
    ("POST", "/user/delete"): {404: "any unknown user_id (nothing is deleted)"},
    ("POST", "/key/generate"): {
        400: "bad budget_duration or duration; budget negative or out of range; metadata or "
             "models over its size as JSON",
        404: "unknown team_id"},
    ("GET", "/key/info"): {404: "unknown key"},
    ("POST", "/key/delete"): {
        400: "some of the keys were deleted concurrently; the keys are too large to delete in "
             "one transaction (name fewer)",
        404: "an unknown key"},
    ("POST", "/key/update"): {
        400: "bad budget_duration or duration; budget or limits negative or out of range; "
             "metadata or models over its size as JSON",
        404: "unknown key, or unknown team_id to move it to"},
    ("POST", "/key/regenerate"): {
        400: "no key; bad grace_period, budget_duration or duration; budget or limits out of "
             "range; metadata or models over its size as JSON",
        404: "unknown key, or unknown team_id to move it to"},
    ("POST", "/key/{key}/regenerate"): {
        400: "bad grace_period, budget_duration or duration; budget or limits out of range; "
             "metadata or models over its size as JSON",
        404: "unknown key, or unknown team_id to move it to"},
    ("POST", "/spend/track"): {
        400: "spend not a finite number above 0; neither token nor key", 404: "unknown key"},
    ("POST", "/spend/reserve"): {
        400: "amount not a finite number from 0; ttl_seconds not 1..3600; neither key nor token",
        401: "the caller's own key is refused (no `type`); or the end user's key is unknown, "
             "blocked or expired, or its team is blocked or gone (`type`: invalid_user_key)",
        403: "the caller is not an admin nor a key limited to /spend/*; or `model` is not in "
             "the key's or the team's models (`type`: model_not_allowed)",
        429: "a budget would be passed: `type` budget_exceeded, `scope` the budget that binds "
             "(key, user, team_membership, team), `remaining` its USD left"},
    ("POST", "/spend/settle"): {
        400: "spend not a finite number from 0", 404: "unknown reservation_id",
        409: "the reservation was released, or refused"},
    ("POST", "/spend/release"): {404: "unknown reservation_id"},
    ("GET", "/audit"): {
        400: "start after end; a cursor that is not this query's next_cursor; object_id with "
             "team_id",
        404: "unknown team_id (admins and viewers; a deleted team with records is known)"},
}

ERROR_BODY = {
    "title": "ErrorBody",
    "description": "Every error but a request-shape error (422).",
    "type": "object",
    "properties": {"detail": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "title": "Error"},
            "type": {"type": "string", "title": "Type",
                     "description": "What kind of refusal, where a client acts on it: "
                                    "invalid_user_key, model_not_allowed, budget_exceeded"},
            "scope": {"type": "string", "title": "Scope",
                      "description": "budget_exceeded: the budget that binds"},
            "remaining": {"type": "number", "title": "Remaining",
                          "description": "budget_exceeded: USD left in that budget"}},
        "required": ["error"],
        "additionalProperties": False,
    }},
    "required": ["detail"],
    "additionalProperties": False,
}
# Powertools' names (FastAPI's, so LiteLLM's too), with the body teamledger/api.py really sends.
VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {"title": "Location", "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
    },
    "required": ["loc", "msg", "type"],
    "additionalProperties": False,
}
HTTP_VALIDATION_ERROR = {
    "title": "HTTPValidationError",
    "description": "A request that does not fit the route's parameters or body model, or a "
                   "body that is not a JSON object (loc [\"body\"], type json_invalid).",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "array",
                              "items": {"$ref": f"{SCHEMAS}ValidationError"}}},
    "required": ["detail"],
    "additionalProperties": False,
}
OWN_SCHEMAS = {"ErrorBody": ERROR_BODY, "ValidationError": VALIDATION_ERROR,
               "HTTPValidationError": HTTP_VALIDATION_ERROR}


def _error(description: str, schema: str = "ErrorBody") -> dict:
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": f"{SCHEMAS}{schema}"}}}}


# Answers any route (or any route of a kind) can give: components/responses, referenced.
SHARED_RESPONSES = {
    "Unauthorized": (401, _error(
        "No key, an unknown, blocked or expired key, or a key whose team is blocked or gone.")),
    "Forbidden": (403, _error(
        "The caller's role may not use this route, or has no relation to the object (an "
        "unknown object is 403 too for callers who do not read everything).")),
    "PayloadTooLarge": (413, _error("The request body is larger than 1 MiB.")),
    "ValidationFailed": (422, _error("The request does not fit the route's parameters or body.",
                                     "HTTPValidationError")),
    "Busy": (503, _error(
        "A concurrent change won, or the table is throttled or did not answer: nothing was "
        "written; retry. Also every request to a deployment whose master key is too weak, "
        "until its operator replaces it.")),
}


def _powertools_defaults() -> dict[str, dict]:
    """The component schemas Powertools adds to every resolver's document on its own."""
    from aws_lambda_powertools.event_handler.openapi.types import (
        response_validation_error_response_definition,
        validation_error_definition,
        validation_error_response_definition,
    )

    return {"ValidationError": validation_error_definition,
            "HTTPValidationError": validation_error_response_definition,
            # Only sent with response_validation_error_http_code set, which ServiceApp is not.
            "ResponseValidationError": response_validation_error_response_definition}


class MergeError(ValueError):
    """Two functions' documents disagree, or a model's name clashes with one of ours."""


def layer_dirs(template: dict) -> list[str]:
    """The layers' directories, which Lambda puts on sys.path (as tests/support/devserver.py)."""
    return [str(REPO_ROOT / resource["Properties"]["ContentUri"])
            for resource in template["Resources"].values()
            if resource.get("Type") == "AWS::Serverless::LayerVersion"]


def _powertools_annotation(annotation: Any) -> Any:
    """A parameter's or answer's annotation with the layer's markers (teamledger.http.params)
    and Response swapped for Powertools' own, which its OpenAPI generator reads."""
    from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
    from aws_lambda_powertools.event_handler.openapi import params as powertools
    from teamledger.http import params
    from teamledger.http.router import Response

    markers = {params.Query: powertools.Query, params.Path: powertools.Path,
               params.Body: powertools.Body}
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        metadata = [markers[type(m)](**m.constraints) if type(m) in markers else m
                    for m in metadata]
        return Annotated[(base, *metadata)]
    if get_origin(annotation) is Response:
        return PowertoolsResponse[get_args(annotation)]  # type: ignore[misc]
    return annotation


def _described(function: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for a route function with the same name, docstring and signature in
    Powertools' terms: what its OpenAPI generator describes."""
    hints = get_type_hints(function, include_extras=True)
    signature = inspect.signature(function)
    parameters = [parameter.replace(annotation=_powertools_annotation(hints[name]))
                  for name, parameter in signature.parameters.items()]

    @functools.wraps(function)
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("only described, never called")

    stand_in.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=_powertools_annotation(hints["return"]))
    return stand_in


def resolver_of(app: Any) -> Any:
    """A Powertools resolver with validation, holding the routes of one function's app (the
    layer's own router, teamledger.http.router), as the function would declare them there."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    resolver = APIGatewayHttpResolver(enable_validation=True)
    for route in app.routes:
        resolver.route(route.rule, route.method)(_described(route.function))
    return resolver


def function_documents(route_list: Iterable[Route]) -> dict[str, dict]:
    """Each route module's own OpenAPI document (Powertools), by module, in template order."""
    documents = {}
    for route in route_list:
        if route.module not in documents:
            resolver = resolver_of(importlib.import_module(route.module).app)
            documents[route.module] = json.loads(resolver.get_openapi_json_schema())
    return documents


def shared_components(documents: dict[str, dict]) -> dict[str, dict]:
    """The component schemas of every document, by name. A name two functions define must
    mean the same schema; Powertools' own error schemas are left out (ours replace them)."""
    defaults = _powertools_defaults()
    found: dict[str, tuple[str, dict]] = {}
    for module, document in documents.items():
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in defaults:
                if schema != defaults[name]:
                    raise MergeError(f"{module}: a model named {name} clashes with the schema "
                                     "Powertools adds under that name; rename the model")
                continue
            if name in OWN_SCHEMAS:
                raise MergeError(f"{module}: a model named {name} clashes with an error schema "
                                 "of tests/support/openapi.py; rename the model")
            if name in found and found[name][1] != schema:
                raise MergeError(f"component {name} differs between {found[name][0]} and "
                                 f"{module}: two models share a name; rename one")
            found.setdefault(name, (module, schema))
    return {name: schema for name, (_, schema) in found.items()}


def _version() -> str:
    with open(REPO_ROOT / "pyproject.toml", "rb") as stream:
        return tomllib.load(stream)["project"]["version"]


def merged_document(documents: dict[str, dict]) -> dict:
    """Paths of every document in one (Powertools' OpenAPIMerge; a route defined twice is an
    error), with components checked here, since OpenAPIMerge lets the last one win."""
    from aws_lambda_powertools.event_handler.openapi import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    schemas = shared_components(documents)
    merge = OpenAPIMerge(
        title=TITLE, version=_version(), description=DESCRIPTION,
        servers=[Server(url="/", description="the API's base URL: http://127.0.0.1:3000 under "
                                             "`make dev`, the HttpApi's invoke URL in AWS")],
        security_schemes={SECURITY_SCHEME: HTTPBearer(
            description="`Authorization: Bearer <key>`: the master key or a key from "
                        "/key/generate (`sk-...`)")},
        security=[{SECURITY_SCHEME: []}], on_conflict="error")
    for document in documents.values():
        merge.add_schema({"paths": document.get("paths", {})})
    # Through Powertools' OpenAPI model: it checks the shape and serialises the config's models.
    merged = json.loads(merge.get_openapi_json_schema())
    merged.setdefault("components", {})["schemas"] = schemas | OWN_SCHEMAS
    return merged


# lambda_entry(app, idempotent=True): the Idempotency-Key header (teamledger/idempotency.py).
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Answer this request once: a retry with the same key (same caller, same "
                   "route) and the same body answers the first 200 again, header "
                   "`Idempotent-Replayed: true`, and changes nothing (a raw `key` is null "
                   "then: it is never stored). The same key with another body: 422. Only "
                   "200 answers are kept, for 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S"},
}
REPLAYED_HEADER = {"Idempotent-Replayed": {
    "description": "`true` when this is the kept answer of an earlier request with the same "
                   "Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]}}}
IN_PROGRESS = _error("The first request with this Idempotency-Key is still running: nothing "
                     "was done; retry.")


def _takes_input(operation: dict) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


def described_errors(document: dict, descriptions: dict[str, str],
                     idempotent: frozenset[tuple[str, str]] = frozenset()) -> dict:
    """Each operation's error answers as teamledger/api.py sends them; `descriptions`: the
    route modules' docstrings, by "METHOD path"; `idempotent`: the routes that take an
    Idempotency-Key."""
    document["components"]["responses"] = {
        name: response for name, (_, response) in SHARED_RESPONSES.items()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            route = (method.upper(), path)
            answers = operation["responses"]
            answers.pop("422", None)  # Powertools' own, on every route, with its schema
            shared = [] if route in PUBLIC_ROUTES else ["Unauthorized", "Forbidden", "Busy"]
            if _takes_input(operation):
                shared.append("ValidationFailed")
            if "requestBody" in operation:
                shared.append("PayloadTooLarge")
            for name in shared:
                answers[str(SHARED_RESPONSES[name][0])] = {"$ref": f"{RESPONSES}{name}"}
            for status, why in ROUTE_ERRORS.get(route, {}).items():  # route-specific: last
                answers[str(status)] = _error(why[0].upper() + why[1:] + ".")
            if route in idempotent:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                answers["200"]["headers"] = REPLAYED_HEADER
                answers["409"] = IN_PROGRESS
            if route in PUBLIC_ROUTES:
                operation["security"] = []
            if descriptions.get(f"{method.upper()} {path}") and not operation.get("description"):
                operation["description"] = descriptions[f"{method.upper()} {path}"]
    return document


def _descriptions(route_list: Iterable[Route]) -> dict[str, str]:
    """`POST /team/new: create a team...` module docstrings -> {"POST /team/new": "Create..."}."""
    found = {}
    for route in route_list:
        doc = " ".join((importlib.import_module(route.module).__doc__ or "").split())
        head, _, rest = doc.partition(": ")
        if head == f"{route.method} {route.path}" and rest:
            found[head] = rest[0].upper() + rest[1:]
    return found


def build(template: dict | None = None) -> dict:
    """The whole document, from template.yaml's routes and their functions' code."""
    template = template if template is not None else load_template()
    for layer in layer_dirs(template):
        if layer not in sys.path:
            sys.path.insert(0, layer)
    from teamledger.http import compiled

    if compiled.active():  # the functions' annotations here are the compiled stand-ins
        return _built_apart()
    route_list = api_routes(template)
    unknown = set(ROUTE_ERRORS) - {(r.method, r.path) for r in route_list}
    if unknown:
        raise MergeError(f"ROUTE_ERRORS names routes template.yaml does not have: {unknown}")
    document = merged_document(function_documents(route_list))
    idempotent = frozenset((r.method, r.path) for r in route_list if getattr(
        getattr(importlib.import_module(r.module), r.handler), "idempotent", False))
    return described_errors(document, _descriptions(route_list), idempotent)


def render(document: dict) -> str:
    """Stable text: sorted keys, two-space indent, a final newline, so a diff means a change."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _built_apart() -> dict:
    """build() in a process of its own, with the models declared."""
    import subprocess

    printed = subprocess.run(
        [sys.executable, "-m", "tests.support.openapi", "--stdout"], cwd=REPO_ROOT, check=True,
        capture_output=True, text=True, env={**os.environ, "TEAMLEDGER_MODELS": "declared"})
    document: dict = json.loads(printed.stdout)
    return document


def main() -> None:
    os.environ["TEAMLEDGER_MODELS"] = "declared"  # before any function is imported
    if sys.argv[1:] == ["--stdout"]:
        print(render(build()), end="")
        return
    text = render(build())
    DOCUMENT.write_text(text, encoding="utf-8")
    document = json.loads(text)
    operations = sum(len(item) for item in document["paths"].values())
    print(f"wrote {DOCUMENT.relative_to(REPO_ROOT)}: {operations} operations, "
          f"{len(document['components']['schemas'])} schemas")


if __name__ == "__main__":
    main()
