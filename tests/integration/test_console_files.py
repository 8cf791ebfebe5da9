"""GET /ui and GET /ui/{proxy+}: the admin console's files, as API Gateway hands them over.

Served without a key, each with its content type, cache headers and a strict
Content-Security-Policy; anything but one of the console's files is 404, a path that climbs out
of the folder included."""

import re
import subprocess
import sys

import pytest

from tests.support.client import MASTER_KEY
from tests.support.template import REPO_ROOT

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC = REPO_ROOT / "functions" / "ui" / "static"


def raw(name, **kwargs):
    """The file's answer as the handler gives it (its body is not JSON)."""
    from functions.ui import app
    from tests.support.apigw import http_event, lambda_context

    route = "/ui/{proxy+}" if name is not None else "/ui"
    event = http_event("GET", f"/ui/{name}" if name is not None else "/ui", route=route,
                       path_parameters={"proxy": name} if name is not None else None, **kwargs)
    return app.lambda_handler(event, lambda_context("UiFunction"))


def test_the_page_is_served_without_a_key_with_a_strict_policy():
    # When a browser opens /ui, with no key
    answer = raw(None)
    # Then it gets the page, revalidated each time, under the strict CSP
    assert answer["statusCode"] == 200
    headers = answer["headers"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Content-Security-Policy"] == CSP
    assert (headers["X-Content-Type-Options"], headers["Referrer-Policy"]) == (
        "nosniff", "no-referrer")
    assert "<title>TeamLedger console</title>" in answer["body"]


@pytest.mark.parametrize(("name", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("views/team.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8")])
def test_each_file_has_its_type_a_short_cache_and_an_etag(name, content_type):
    answer = raw(name)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == content_type
    assert answer["headers"]["Cache-Control"] == "public, max-age=300"
    assert re.fullmatch(r'"[0-9a-f]{32}"', answer["headers"]["ETag"])
    assert answer["body"] == (STATIC / name).read_text()
    # And a browser that has it gets 304, without the body
    again = raw(name, headers={"if-none-match": answer["headers"]["ETag"]})
    assert (again["statusCode"], again["body"]) == (304, "")


@pytest.mark.parametrize("name", [
    "nope.js", "../app.py", "../../template.yaml", "views/../../app.py", "%2e%2e/app.py",
    "/etc/passwd", "static/app.js", "app.py", "views", "."])
def test_anything_but_a_console_file_is_404(name):
    answer = raw(name)
    assert answer["statusCode"] == 404
    assert answer["body"] == "Not found"
    assert answer["headers"]["Content-Security-Policy"] == CSP


def test_a_key_sent_along_is_not_needed_nor_looked_at():
    # Given the master key and a key that is no key, When each asks for the page
    for key in (MASTER_KEY, "sk-not-a-key"):
        answer = raw(None, headers={"authorization": f"Bearer {key}"})
        # Then both get it alike (the page holds the key; these routes never read one)
        assert answer["statusCode"] == 200
        assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"


def test_the_pages_scripts_never_write_api_text_as_markup():
    # No innerHTML, outerHTML, insertAdjacentHTML, document.write or eval in the console:
    # API text reaches the page through textContent only
    for path in STATIC.rglob("*.js"):
        text = path.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                             text), path.name
    # And no inline script or style (the CSP would refuse them)
    page = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", page)


def test_the_function_loads_neither_pydantic_nor_botocore():
    # Cold start: the files only (a browser waits on it)
    code = ("import sys, functions.ui.app; "
            "print(sorted(m for m in ('pydantic', 'botocore', 'boto3', 'aws_lambda_powertools')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True, env={"PYTHONPATH": "shared:."})
    assert result.stdout.strip() == "[]"
