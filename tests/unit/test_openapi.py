"""docs/openapi.json: generated from the code, current, and exactly template.yaml's routes."""

import difflib
import json

import pytest

from tests.support import openapi
from tests.support.template import load_template

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(scope="module")
def generated() -> str:
    return openapi.render(openapi.build())


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))


def operations(document: dict):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def test_the_committed_document_is_what_the_code_generates(generated):
    # Given the document generated from the route functions now
    # When it is compared with the committed docs/openapi.json
    committed_text = openapi.DOCUMENT.read_text(encoding="utf-8")
    # Then they are the same text
    if committed_text != generated:
        diff = "".join(list(difflib.unified_diff(
            committed_text.splitlines(keepends=True), generated.splitlines(keepends=True),
            "docs/openapi.json (committed)", "docs/openapi.json (generated)"))[:60])
        pytest.fail("docs/openapi.json is stale: run `make openapi` and commit it.\n" + diff)


def test_generating_twice_gives_the_same_text(generated):
    # Given a second generation in the same process
    # Then nothing in it depends on order of imports or on caching
    assert openapi.render(openapi.build()) == generated


def test_the_document_has_exactly_the_routes_of_the_template(committed):
    # Given the HttpApi events of template.yaml
    deployed = {(route.method, route.path) for route in openapi.api_routes(load_template())}
    # When the document's paths and methods are listed
    documented = {(method, path) for method, path, _ in operations(committed)}
    # Then every deployed route is documented, and nothing else is
    assert documented - deployed == set(), "documented but not in template.yaml"
    assert deployed - documented == set(), "in template.yaml but not documented"


def test_the_document_is_valid_openapi_3_1(committed):
    validator = pytest.importorskip("openapi_spec_validator")  # comes with moto[server]
    assert committed["openapi"].startswith("3.1")
    validator.validate(committed)


def test_every_reference_resolves_and_every_schema_is_used(committed):
    text = json.dumps(committed)
    components = committed["components"]
    referenced = set()
    for kind in ("schemas", "responses"):
        prefix = f'"#/components/{kind}/'
        for part in text.split(prefix)[1:]:
            name = part.split('"', 1)[0]
            assert name in components[kind], f"#/components/{kind}/{name} is not defined"
            referenced.add((kind, name))
    unused = {(kind, name) for kind in ("schemas", "responses") for name in components[kind]}
    assert unused - referenced == set()


def test_every_operation_has_a_unique_id(committed):
    ids = [operation["operationId"] for _, _, operation in operations(committed)]
    assert len(ids) == len(set(ids))


def test_errors_are_described_as_the_layer_sends_them(committed):
    # Given every operation of the document
    for method, path, operation in operations(committed):
        answers = operation["responses"]
        # Then the public route answers 200 only, without a key
        if (method, path) in openapi.PUBLIC_ROUTES:
            assert operation["security"] == []
            assert set(answers) == {"200"}
            continue
        # And every other route can refuse the key, the role, or be busy
        assert {"401", "403", "503"} <= set(answers), (method, path)
        assert "security" not in operation  # the document's: the bearer key
        # And a route with a body can find it too large
        assert ("413" in answers) == ("requestBody" in operation), (method, path)
        # And a route that takes input can find it malformed, with the real 422 shape
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        assert ("422" in answers) == takes_input, (method, path)
        for status, answer in answers.items():
            if status != "200":
                assert answer.get("$ref") or answer["content"]["application/json"]["schema"]


def test_the_422_schema_has_what_the_layer_sends(committed):
    schemas = committed["components"]["schemas"]
    assert schemas["ValidationError"]["required"] == ["loc", "msg", "type"]
    assert set(schemas["ValidationError"]["properties"]) == {"loc", "msg", "type"}
    assert schemas["HTTPValidationError"]["required"] == ["detail"]
    assert "ResponseValidationError" not in schemas  # ServiceApp never sends it


def test_the_version_is_the_projects(committed):
    assert committed["info"] == committed["info"] | {"title": "TeamLedger",
                                                      "version": openapi._version()}


# --- merging ------------------------------------------------------------------------------

def _document(schemas: dict) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
            "components": {"schemas": schemas}}


def test_a_model_shared_by_two_functions_is_kept_once():
    same = {"type": "object", "properties": {"team_id": {"type": "string"}}}
    merged = openapi.shared_components({"functions.a.app": _document({"Team": same}),
                                        "functions.b.app": _document({"Team": dict(same)})})
    assert merged == {"Team": same}


def test_two_different_models_of_one_name_are_refused():
    # Given two functions whose models share a name but not a shape
    a = _document({"Team": {"type": "object", "properties": {"team_id": {"type": "string"}}}})
    b = _document({"Team": {"type": "object", "properties": {"id": {"type": "string"}}}})
    # When they are merged
    # Then the merge names both functions rather than keep either silently
    with pytest.raises(openapi.MergeError, match="Team differs between functions.a.app and "
                                                 "functions.b.app"):
        openapi.shared_components({"functions.a.app": a, "functions.b.app": b})


def test_a_model_named_like_an_error_schema_is_refused():
    with pytest.raises(openapi.MergeError, match="ErrorBody"):
        openapi.shared_components({"functions.a.app": _document({"ErrorBody": {}})})
    with pytest.raises(openapi.MergeError, match="ValidationError"):
        openapi.shared_components({"functions.a.app": _document({"ValidationError": {}})})


def test_a_route_defined_by_two_functions_is_refused():
    from aws_lambda_powertools.event_handler.openapi import OpenAPIMergeError

    operation = {"operationId": "x", "responses": {"200": {"description": "ok"}}}
    documents = {module: {"paths": {"/team/new": {"post": dict(operation)}}}
                 for module in ("functions.a.app", "functions.b.app")}
    with pytest.raises(OpenAPIMergeError, match="POST /team/new"):
        openapi.merged_document(documents)
