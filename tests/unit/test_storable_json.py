"""What a free-form object (`metadata`, `model_aliases`) must be to be stored as a DynamoDB map:
refused values are a 422 (a ValueError in the model's validator). An empty key is one of them
(issue 13, defect 7): DynamoDB refuses an empty attribute name at any depth of an item, and
moto, which takes it, then streams a record nobody can read."""

import pytest
from pydantic import ValidationError
from teamledger.domain.limits import storable_json
from teamledger.http.models import KeyGenerateRequest, TeamUpdateRequest, UserNewRequest


@pytest.mark.parametrize("value", [
    {"": 1}, {"a": {"": 1}}, {"a": [1, {"b": {"": None}}]}, {"ok": True, "": "x"},
    [{"": 1}]])
def test_an_empty_key_at_any_depth_is_refused(value):
    with pytest.raises(ValueError, match="empty"):
        storable_json(value)


@pytest.mark.parametrize("value", [
    {}, {" ": 1}, {"#": {".": []}}, {"a": [{}, {"b": ""}]}, {"é": {"x" * 1000: None}}])
def test_odd_keys_that_are_not_empty_pass_unchanged(value):
    assert storable_json(value) == value


@pytest.mark.parametrize(("model", "body"), [
    (TeamUpdateRequest, {"team_id": "t", "metadata": {"": 1}}),
    (TeamUpdateRequest, {"team_id": "t", "model_aliases": {"gpt": {"": "x"}}}),
    (UserNewRequest, {"metadata": {"": 1}}),
    (KeyGenerateRequest, {"metadata": {"x": [{"": 1}]}}),
])
def test_the_request_models_refuse_it_on_the_field(model, body):
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    (error,) = refused.value.errors()
    assert error["loc"][0] in ("metadata", "model_aliases")
    assert "empty" in error["msg"]
