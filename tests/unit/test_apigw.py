"""The event factory builds what an HTTP API (payload 2.0) sends, as Powertools reads it."""

import base64
import json
import re

from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from tests.support.apigw import (
    api_gateway_sends_as_text,
    http_event,
    lambda_context,
    path_parameters,
)


def test_route_key_paths_and_method_follow_the_request():
    event = http_event("get", "/team/info")

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /team/info"
    assert event["rawPath"] == "/team/info"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["path"] == "/team/info"
    assert event["requestContext"]["routeKey"] == "GET /team/info"
    assert event["requestContext"]["stage"] == "$default"


def test_a_request_without_query_body_or_cookies_has_none_of_those_fields():
    event = http_event("GET", "/health/liveliness")

    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "body" not in event
    assert "cookies" not in event
    assert event["isBase64Encoded"] is False


def test_query_is_url_encoded_raw_and_decoded_in_parameters():
    event = http_event("GET", "/v2/team/list", query={"team_alias": "a&b c", "page": "2"})

    assert event["rawQueryString"] == "team_alias=a%26b+c&page=2"
    assert event["queryStringParameters"] == {"team_alias": "a&b c", "page": "2"}


def test_repeated_query_keys_stay_repeated_raw_and_are_joined_with_commas():
    event = http_event("GET", "/team/list", query=[("user_id", "u1"), ("user_id", "u2")])

    assert event["rawQueryString"] == "user_id=u1&user_id=u2"
    assert event["queryStringParameters"] == {"user_id": "u1,u2"}


def test_a_raw_query_string_passes_through_as_the_client_sent_it():
    event = http_event("GET", "/key/info", query="key=sk-a%2Fb&flag")

    assert event["rawQueryString"] == "key=sk-a%2Fb&flag"
    assert event["queryStringParameters"] == {"key": "sk-a/b", "flag": ""}


def test_header_names_are_lower_cased_and_repeated_headers_joined_with_commas():
    event = http_event(
        "GET",
        "/team/info",
        headers=[("Authorization", "Bearer sk-1"), ("X-Tag", "a"), ("x-tag", "b")],
    )

    assert event["headers"]["authorization"] == "Bearer sk-1"
    assert event["headers"]["x-tag"] == "a,b"
    assert all(name == name.lower() for name in event["headers"])


def test_gateway_headers_are_added_like_api_gateway_adds_them():
    event = http_event("GET", "/team/info", headers={"User-Agent": "curl/8"}, source_ip="10.0.0.9")

    assert event["headers"]["x-forwarded-for"] == "10.0.0.9"
    assert event["headers"]["x-forwarded-proto"] == "https"
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.9"
    assert event["requestContext"]["http"]["userAgent"] == "curl/8"


def test_cookie_header_moves_to_the_cookies_field():
    event = http_event("GET", "/team/info", headers={"Cookie": "a=1; b=2"})

    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]


def test_a_dict_body_is_sent_as_json_with_its_content_type():
    event = http_event("POST", "/team/new", body={"team_alias": "ops"})

    assert json.loads(event["body"]) == {"team_alias": "ops"}
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["content-length"] == str(len(event["body"]))
    assert event["isBase64Encoded"] is False


def test_a_given_content_type_is_kept_for_a_dict_body():
    event = http_event("POST", "/team/new", headers={"Content-Type": "text/plain"}, body={"a": 1})

    assert event["headers"]["content-type"] == "text/plain"


def test_utf8_bytes_arrive_as_text():
    event = http_event("POST", "/team/new", body='{"team_alias": "é"}'.encode())

    assert event["body"] == '{"team_alias": "é"}'
    assert event["isBase64Encoded"] is False


def test_bytes_that_are_not_utf8_arrive_base64_encoded():
    raw = b"\xff\xfe{}"

    event = http_event("POST", "/team/new", body=raw)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_is_base64_encodes_even_a_text_body():
    event = http_event("POST", "/team/new", body='{"a": 1}', is_base64=True)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b'{"a": 1}'


def test_a_named_stage_prefixes_the_raw_path_but_not_the_route_key():
    event = http_event("GET", "/team/info", stage="dev")

    assert event["rawPath"] == "/dev/team/info"
    assert event["routeKey"] == "GET /team/info"
    assert event["requestContext"]["stage"] == "dev"


def test_request_context_identifies_the_request_and_its_time():
    first, second = http_event("GET", "/a"), http_event("GET", "/a")
    context = first["requestContext"]

    assert context["requestId"] != second["requestContext"]["requestId"]
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int) and context["timeEpoch"] > 1_700_000_000_000
    assert context["domainName"].startswith(context["domainPrefix"] + ".")


def test_powertools_reads_path_method_query_headers_and_json_body():
    event = APIGatewayProxyEventV2(
        http_event(
            "POST",
            "/team/member_add",
            headers={"Authorization": "Bearer sk-x"},
            query=[("dry_run", "1")],
            body={"team_id": "t1", "member": [{"role": "user"}]},
        )
    )

    assert event.path == "/team/member_add"
    assert event.http_method == "POST"
    assert event.query_string_parameters == {"dry_run": "1"}
    assert event.headers["Authorization"] == "Bearer sk-x"
    assert event.json_body == {"team_id": "t1", "member": [{"role": "user"}]}


def test_powertools_decodes_a_base64_body_and_strips_a_named_stage():
    event = APIGatewayProxyEventV2(
        http_event("POST", "/team/new", body={"team_alias": "ops"}, is_base64=True, stage="dev")
    )

    assert event.path == "/team/new"
    assert event.json_body == {"team_alias": "ops"}


def test_only_text_like_content_types_are_passed_as_text():
    assert api_gateway_sends_as_text("application/json; charset=utf-8")
    assert api_gateway_sends_as_text("text/plain")
    assert not api_gateway_sends_as_text("application/x-www-form-urlencoded")
    assert not api_gateway_sends_as_text("application/octet-stream")
    assert not api_gateway_sends_as_text(None)


def test_lambda_context_has_what_powertools_reads():
    context = lambda_context("TeamNewFunction")

    assert context.function_name == "TeamNewFunction"
    assert context.function_version == "$LATEST"
    assert context.memory_limit_in_mb == 512
    assert context.invoked_function_arn.endswith(":function:TeamNewFunction")
    assert context.aws_request_id != lambda_context().aws_request_id
    assert context.log_group_name == "/aws/lambda/TeamNewFunction"
    assert context.log_stream_name
    assert context.get_remaining_time_in_millis() == 10_000
    assert build_lambda_context_model(context).function_request_id == context.aws_request_id


def test_a_greedy_path_parameter_takes_the_rest_of_the_path():
    # As API Gateway matches /ui/{proxy+}: one or more segments, decoded; /ui itself is not it
    assert path_parameters("/ui/{proxy+}", "/ui/views/team.js") == {"proxy": "views/team.js"}
    assert path_parameters("/ui/{proxy+}", "/ui/a%20b.js") == {"proxy": "a b.js"}
    assert path_parameters("/ui/{proxy+}", "/ui") is None
    assert path_parameters("/ui/{proxy+}", "/uix/app.js") is None
    assert path_parameters("/team/{team_id}", "/team/a/b") is None
