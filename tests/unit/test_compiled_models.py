"""The compiled models (teamledger.http.compiled) validate and serialize as the declared ones
(pydantic) do, and a function using them never imports pydantic."""

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic_core import ValidationError
from teamledger.http import compiled, declared

REPO_ROOT = Path(__file__).resolve().parents[2]
DECLARED = {name: value for name, value in vars(declared).items()
            if isinstance(value, type) and issubclass(value, BaseModel)
            and value.__module__ == declared.__name__}
# Values of every kind a client may send in one field.
VALUES = [None, 0, 7, -1, 1.5, math.nan, math.inf, True, "", "x", " x", "a@b", "user",
          "/key/info", "x" * 300, "é" * 200, "x" * 5000, [], ["x"], [1], ["/key/info"] * 2,
          [{"user_id": "u"}], {}, {"a": 1}, {"user_id": "u", "role": "admin"}]


def sample(annotation):
    """A value the annotation accepts (for the required fields around the field under test)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return sample(args[0])
    if origin is Literal:
        return args[0]
    if origin in (Union, UnionType):
        return sample(next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return []
    if origin is dict or annotation is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return filled(annotation)
    return {str: "x", int: 7, float: 1.5, bool: True}.get(annotation, "x")


def filled(model) -> dict:
    return {name: sample(field.annotation) for name, field in model.model_fields.items()
            if field.is_required()}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> compiled.Loaded:
    path = compiled.write(REPO_ROOT, tmp_path_factory.mktemp("compiled") / "models.pickle")
    found = compiled.load(path)
    assert found is not None
    return found


def outcome(model, data: dict):
    """What validating `data` gives: the dumps of the instance, or the errors."""
    try:
        made = model.model_validate(data)
    except ValidationError as error:
        return "errors", json.dumps(error.errors(include_url=False), default=repr)
    dumps = [made.model_dump(), made.model_dump(mode="json", by_alias=True),
             made.model_dump(exclude_unset=True), sorted(made.model_fields_set)]
    return "valid", json.dumps(dumps, default=repr)


def test_every_declared_model_is_compiled_with_its_fields_in_order(loaded):
    assert set(loaded.models) == set(DECLARED)
    for name, model in DECLARED.items():
        assert list(loaded.models[name].model_fields) == list(model.model_fields), name


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_a_compiled_model_gives_what_the_declared_one_gives_for_any_value_of_any_field(
        loaded, name):
    # Given the model as declared and as compiled
    model, compiled_model = DECLARED[name], loaded.models[name]
    inputs = [{}, filled(model)] + [filled(model) | {field: value}
                                    for field in model.model_fields for value in VALUES]
    # When each input is validated by both
    kinds = set()
    for data in inputs:
        # Then both accept it and dump the same, or both refuse it with the same errors
        got = outcome(compiled_model, data)
        assert got == outcome(model, data), (name, data)
        kinds.add(got[0])
    assert kinds == {"valid", "errors"} or not model.model_fields, name  # (bases: no field)


def test_a_compiled_model_is_built_and_compared_as_a_pydantic_one(loaded):
    team = loaded.models["TeamMembership"](user_id="u", team_id="t")
    assert team == loaded.models["TeamMembership"](user_id="u", team_id="t")
    assert team != loaded.models["TeamMembership"](user_id="u", team_id="t2")
    assert team.model_fields_set == {"user_id", "team_id"}
    assert repr(team).startswith("TeamMembership(user_id='u', team_id='t'")
    assert issubclass(loaded.models["ListedTeam"], loaded.models["Team"])
    with pytest.raises(ValidationError):
        loaded.models["TeamMembership"](user_id="u")


_DECLARED_ROUTES = """
import glob, importlib, json
from teamledger.http import compiled
found = {}
for path in sorted(glob.glob("functions/*/app.py")):
    module = importlib.import_module(path[:-3].replace("/", "."))
    for route in getattr(getattr(module, "app", None), "routes", []):
        fields = [[f.name, f.source, f.required, f.default] for f in route.bind_declared()]
        found[compiled.route_key(route.function)] = [route.rule, fields,
                                                     route.declared_answer() is None]
print(json.dumps(found))
"""


def test_every_route_is_compiled_with_the_parameters_its_annotations_declare(loaded):
    # Given every route's parameters as its annotations declare them (pydantic's reading, in
    # a process of its own: this one may have the compiled models)
    result = _run(_DECLARED_ROUTES, TEAMLEDGER_MODELS="declared")
    assert result.returncode == 0, result.stderr
    declared_routes = json.loads(result.stdout)
    assert len(declared_routes) >= 38
    # Then each has its compiled entry, with the same parameters and an answer alike
    for route_key, (rule, fields, answers_a_response) in declared_routes.items():
        entry = loaded.entry(route_key)
        assert entry is not None, rule
        assert [list(field[:4]) for field in entry["fields"]] == fields, rule
        assert (entry["answer"] is None) == answers_a_response, rule


def test_a_stale_cache_is_not_loaded(loaded, tmp_path):
    # Given a cache written for other declared models (another key)
    cache = {"key": "other", "models": [], "aliases": [], "constants": {}, "routes": {}}
    stale = tmp_path / "stale.pickle"
    stale.write_bytes(pickle.dumps(cache))
    # Then it is not loaded, nor is a missing or broken one
    assert compiled.load(stale) is None
    assert compiled.load(tmp_path / "missing.pickle") is None
    (tmp_path / "broken.pickle").write_bytes(b"not a pickle")
    assert compiled.load(tmp_path / "broken.pickle") is None


def test_a_route_whose_module_changed_since_is_not_in_the_cache(loaded, tmp_path):
    # Given a route function whose module's text is not the compiled one
    source = tmp_path / "changed_app.py"
    source.write_text("def team_new():\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import changed_app
    finally:
        sys.path.remove(str(tmp_path))
    # Then it has no entry, and the router would say so rather than validate by guess
    assert loaded.route(changed_app.team_new) is None
    with pytest.raises(compiled.StaleModels):
        compiled.route(changed_app.team_new)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter; TEAMLEDGER_MODELS only as `env` says (unset otherwise,
    whatever this session runs with)."""
    inherited = {name: value for name, value in os.environ.items()
                 if name != compiled.MODE}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**inherited, "PYTHONPATH": os.pathsep.join(["shared", "."]),
             "AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "t", **env})


def test_no_function_imports_pydantic_with_compiled_models():
    # Given the cache as `make build` writes it
    subprocess.run([sys.executable, "-m", "teamledger.http.compiled"], cwd=REPO_ROOT,
                   check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(["shared", "."])})
    # When every function is imported, every route's validators built, a model made and a
    # request refused for its shape, with the models compiled
    code = """
import glob, importlib, json, sys
from teamledger.http import compiled, models
for path in sorted(glob.glob("functions/*/app.py")):
    module = importlib.import_module(path[:-3].replace("/", "."))
    for route in getattr(getattr(module, "app", None), "routes", []):
        route.prepare()
models.Team(team_id="t", created_at="c", updated_at="u").model_dump(mode="json")
from functions.team_new import app
event = {"rawPath": "/team/new", "body": json.dumps({"team_alias": 5}),
         "requestContext": {"http": {"method": "POST"}, "stage": "$default"}}
try:
    app.app.dispatch(event)
except Exception as error:
    print(type(error).__name__, json.dumps(error.errors(), default=str))
print(compiled.active(), sorted(m for m in sys.modules if m.split(".")[0] == "pydantic"))
"""
    result = _run(code, TEAMLEDGER_MODELS="compiled")
    assert result.returncode == 0, result.stderr
    refused, modules = result.stdout.strip().splitlines()
    # Then the request's errors are pydantic's, and pydantic itself never loaded
    assert refused.startswith("RequestValidationError")
    assert '"loc": ["body", "team_alias"]' in refused and "string_type" in refused
    assert modules == "True []"


def test_compiled_required_and_missing_is_an_error_not_a_silent_fallback(tmp_path):
    code = ("from teamledger.http import compiled\n"
            f"compiled.CACHE = __import__('pathlib').Path({str(tmp_path / 'none.pickle')!r})\n"
            "import teamledger.http.models\n")
    result = _run(code, TEAMLEDGER_MODELS="compiled")
    assert result.returncode != 0 and "StaleModels" in result.stderr
    assert _run(code).returncode == 0  # unset: pydantic's, as in a layer never built


def test_a_function_without_models_builds_its_route_without_pydantic():
    # Given health, which imports no model (its route answers a Response it builds)
    code = ("import sys\nfrom functions.health_liveliness.app import app\n"
            "for route in app.routes:\n    route.prepare()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))\n")
    # When its first request builds the route
    result = _run(code)
    # Then pydantic is not imported for it
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
