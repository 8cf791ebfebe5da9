"""`make fuzz`: schemathesis against a dev server of its own, with the committed
docs/openapi.json, every operation, once with the master key and once with a non-admin key.

    FUZZ_EXAMPLES=35 FUZZ_NEGATIVE=15 FUZZ_SEED=1 .venv-fuzz/bin/python -m tests.support.fuzz

Environment read: FUZZ_EXAMPLES (35: positive cases per operation and key), FUZZ_NEGATIVE (15:
negative cases, data the document forbids, per operation and key), FUZZ_SEED (1).

It starts `make dev`'s server as a process on a free port (`dev_server_process`, a moto of its
own). Before each operation it creates fresh real objects (three teams, a user, two keys) so
that half of the positive cases name an id that exists: a team the non-admin user administers,
one it is a plain member of, one it is not in; keys; a held and a settled reservation. Each
response is checked by the schemathesis checks below; a failure is counted under its check and
the run goes on (no shrinking), so the printed numbers are all the failures of this seed. Exit
status 1 on a 5xx or a response the document does not describe. Invalid requests answered 2xx
are printed, not failed: the handlers ignore unknown query parameters, and pydantic (lax mode)
reads `true` or "5" as a number.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support.devprocess import dev_server_process
from tests.support.template import REPO_ROOT

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
NON_ADMIN = "fuzz-user"
# Checks that a response agrees with the document; their failures are schema violations.
DOCUMENT_CHECKS = (
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
)
POSITIVE_CHECKS = (schemathesis.checks.not_a_server_error, *DOCUMENT_CHECKS)
# Data the document forbids should be refused with a 4xx (reported, not failed: see above).
NEGATIVE_CHECKS = (*POSITIVE_CHECKS, openapi_checks.negative_data_rejection)
FAILING_CHECKS = (schemathesis.checks.not_a_server_error, *DOCUMENT_CHECKS)
SHOWN_PER_CHECK = 5


@dataclass
class RealObjects:
    teams: list[str]
    users: list[str]
    emails: list[str]
    tokens: list[str]
    reservations: list[str] = field(default_factory=list)


@dataclass
class Tally:
    cases: int = 0
    server_errors: int = 0
    by_check: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def record(self, check: str, case: Case, response: Any, group: FailureGroup) -> None:
        self.by_check[check] += 1
        shown = self.examples.setdefault(check, [])
        if len(shown) < SHOWN_PER_CHECK:
            titles = "; ".join(f"{failure.title}: {failure.message}"[:400]
                               for failure in group.exceptions)
            shown.append(f"{case.method} {case.formatted_path} query={case.query} "
                         f"body={json.dumps(case.body, default=str)[:300]} -> "
                         f"{response.status_code} {response.content[:300]!r}\n      {titles}")

    @property
    def schema_violations(self) -> int:
        return sum(self.by_check[check.__name__] for check in DOCUMENT_CHECKS)

    @property
    def failures(self) -> int:
        return sum(self.by_check[check.__name__] for check in FAILING_CHECKS)


class Api:
    """The few setup calls, with the master key."""

    def __init__(self, base_url: str, master_key: str):
        self.base_url = base_url
        self.headers = {"authorization": f"Bearer {master_key}",
                        "content-type": "application/json"}

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.base_url + path, json.dumps(body).encode(),
                                         self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def non_admin_key(api: Api) -> str:
    return api.post("/user/new", {"user_id": NON_ADMIN, "user_role": "internal_user"})["key"]


def real_objects(api: Api, run: int) -> RealObjects:
    """Teams the non-admin user administers, is a member of, is not in; another user; keys."""
    teams = [f"fuzz-team-{run}-{name}" for name in ("admin", "member", "other")]
    user, email = f"fuzz-other-{run}", f"fuzz-other-{run}@example.com"
    api.post("/user/new", {"user_id": user, "user_email": email})
    for team_id, role in zip(teams, ("admin", "user", None), strict=True):
        members = [{"user_id": user, "role": "user"}]
        if role:
            members.append({"user_id": NON_ADMIN, "role": role})
        api.post("/team/new", {"team_id": team_id, "team_alias": team_id,
                               "members_with_roles": members, "max_budget": 100})
    tokens = [api.post("/key/generate", {"user_id": owner, "team_id": team_id})["token"]
              for owner, team_id in ((NON_ADMIN, teams[0]), (user, teams[2]))]
    # Reservations: one held, one settled, so settle and release meet both states.
    reservations = [api.post("/spend/reserve", {"token": token, "amount": 0.01})["reservation_id"]
                    for token in tokens]
    api.post("/spend/settle", {"reservation_id": reservations[1], "spend": 0.005})
    return RealObjects(teams, [user, NON_ADMIN], [email], tokens, reservations)


def with_real_ids(values: Any, objects: RealObjects, pick: int) -> Any:
    """The generated fields that name an object, replaced by a real object's id."""
    if not isinstance(values, dict):
        return values
    real = {"team_id": objects.teams, "user_id": objects.users, "user_email": objects.emails,
            "key": objects.tokens, "token": objects.tokens,
            "reservation_id": objects.reservations}
    replaced = dict(values)
    for name, choices in real.items():
        if name in replaced and choices:
            replaced[name] = choices[pick % len(choices)]
    if "team_ids" in replaced:
        replaced["team_ids"] = [objects.teams[pick % len(objects.teams)]]
    if "keys" in replaced:
        replaced["keys"] = [objects.tokens[pick % len(objects.tokens)]]
    return replaced


def fuzz_operation(operation: Any, mode: GenerationMode, examples: int, seed: int,
                   base_url: str, key: str, objects: RealObjects, tally: Tally) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    checks = POSITIVE_CHECKS if mode == GenerationMode.POSITIVE else NEGATIVE_CHECKS
    # Odd picks keep the generated ids; even ones name a real object (positive cases only:
    # a negative case must stay invalid).
    picks = st.integers(min_value=0, max_value=7)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), pick=picks)
    def one_case(case: Case, pick: int) -> None:
        if mode == GenerationMode.POSITIVE and pick % 2 == 0:
            case.query = with_real_ids(case.query, objects, pick // 2)
            case.body = with_real_ids(case.body, objects, pick // 2)
            # PATCH /team/{team_id}, POST /key/{key}/regenerate: a real object in the path too
            case.path_parameters = with_real_ids(case.path_parameters, objects, pick // 2)
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        tally.cases += 1
        tally.by_status[response.status_code // 100] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        for check in checks:
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except FailureGroup as group:
                tally.record(check.__name__, case, response, group)

    one_case()


def run(base_url: str, master_key: str, positive: int, negative: int, seed: int) -> Tally:
    api = Api(base_url, master_key)
    keys = {"master": master_key, "non-admin": non_admin_key(api)}
    schema = schemathesis.openapi.from_path(DOCUMENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    tally = Tally()
    run_number = 0
    for key_name, key in keys.items():
        for operation in operations:
            run_number += 1
            objects = real_objects(api, run_number)
            before = tally.cases
            for mode, examples in ((GenerationMode.POSITIVE, positive),
                                   (GenerationMode.NEGATIVE, negative)):
                # Unsatisfiable: no negative case exists for an operation without inputs.
                with contextlib.suppress(Unsatisfiable):
                    fuzz_operation(operation, mode, examples, seed, base_url, key, objects,
                                   tally)
            print(f"  {key_name:9} {operation.label:28} {tally.cases - before:4} cases",
                  flush=True)
    return tally


def report(tally: Tally) -> str:
    lines = [f"cases run: {tally.cases}",
             "responses: " + ", ".join(f"{klass}xx {count}"
                                       for klass, count in sorted(tally.by_status.items())),
             f"5xx: {tally.server_errors}",
             f"schema violations: {tally.schema_violations}",
             "invalid requests accepted (not failed): "
             f"{tally.by_check[openapi_checks.negative_data_rejection.__name__]}",
             "failures by check: " + (", ".join(f"{name} {count}" for name, count
                                               in sorted(tally.by_check.items())) or "none")]
    for check, shown in sorted(tally.examples.items()):
        lines.append(f"first {check} failures:")
        lines.extend(f"  - {line}" for line in shown)
    return "\n".join(lines)


def main() -> int:
    positive = int(os.environ.get("FUZZ_EXAMPLES") or 35)
    negative = int(os.environ.get("FUZZ_NEGATIVE") or 15)
    seed = int(os.environ.get("FUZZ_SEED") or 1)
    log_dir = Path(tempfile.mkdtemp(prefix="teamledger-fuzz-"))
    try:
        with dev_server_process(log_dir) as server:
            print(f"make fuzz: schemathesis {schemathesis.__version__}, {DOCUMENT.name}, "
                  f"{positive} positive + {negative} negative cases per operation and key, "
                  f"seed {seed}, against {server.url}", flush=True)
            tally = run(server.url, server.master_key, positive, negative, seed)
    except pytest.fail.Exception as error:
        print(f"fuzz: {error}", file=sys.stderr)
        return 1
    print(report(tally))
    if tally.failures or tally.server_errors:
        print(f"dev server log: {log_dir / 'devserver.log'}")
        return 1
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
