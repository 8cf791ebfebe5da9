"""The custom metrics the alarms of template.yaml watch: a route's catch-all 500 counts one
UnexpectedErrors and keeps the contract's body, and a budget-reset run that could not reset
some budgets counts them in BudgetResetFailures, though Lambda sees it succeed."""

import importlib
from datetime import timedelta

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from teamledger.domain import budget_reset, team_lists
from teamledger.timestamps import from_iso

from tests.support.apigw import LambdaContext


@pytest.fixture
def published_metrics(monkeypatch):
    """Metrics on, as in AWS (the tests turn them off): the EMF documents the handlers flush,
    read as {metric name: [values]}."""
    documents: list[dict] = []
    serialize = AmazonCloudWatchEMFProvider.serialize_metric_set

    def recorded(self, *args, **kwargs):
        document = serialize(self, *args, **kwargs)
        documents.append(document)
        return document

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "serialize_metric_set", recorded)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    Metrics().clear_metrics()  # disabled, earlier tests' values were never flushed

    def read() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for document in documents:
            assert document["service"] == "teamledger"  # the alarms' dimension
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "TeamLedger"
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    found.setdefault(metric["Name"], []).extend(
                        value if isinstance(value, list) else [value])
        return found

    yield read
    Metrics().clear_metrics()


def test_an_unexpected_error_answers_the_contracts_500_and_counts_it(api, monkeypatch,
                                                                      published_metrics):
    # Given a route whose layer fails in a way nobody planned for
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(team_lists, "list_teams", broken)

    # When it is called
    reply = api.get("/team/list")

    # Then the client gets the contract's catch-all body, and one UnexpectedErrors is published
    assert reply.status == 500
    assert reply.body == {"detail": {"error": "Internal server error"}}
    assert published_metrics().get("UnexpectedErrors") == [1]


def test_an_ordinary_answer_counts_no_unexpected_error(api, published_metrics):
    reply = api.get("/team/list")

    assert reply.status == 200
    assert "UnexpectedErrors" not in published_metrics()


def _run_job() -> dict:
    handler = importlib.import_module("functions.budget_reset.app").lambda_handler
    return handler({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}},
                   LambdaContext(function_name="BudgetResetFunction", timeout_millis=300_000))


def test_a_clean_budget_reset_run_publishes_zero_failures(api, fresh_table, published_metrics):
    # Given a table with nothing to reset
    # When the job runs
    report = _run_job()

    # Then it reports no errors, and says so in its metric (the alarm has data, and is OK)
    assert report["errors"] == []
    assert published_metrics()[budget_reset.FAILURES_METRIC] == [0]


def test_a_budget_reset_run_with_item_errors_publishes_them(api, fresh_table, monkeypatch,
                                                            published_metrics):
    # Given a team with spend whose budget period has ended, and a reset that fails on it
    team = api.new_team(budget_duration="1d", max_budget=10)
    key = api.new_key(team_id=team["team_id"])
    api.ok(api.post("/spend/track", {"token": key["token"], "spend": 2.5}))
    later = from_iso(team["budget_reset_at"]) + timedelta(minutes=1)

    def fails(item, now):
        raise ValueError("cannot reset this one")

    monkeypatch.setattr(budget_reset, "_commit_reset", fails)
    monkeypatch.setattr(budget_reset, "utcnow", lambda: later)

    # When the job runs: for Lambda it succeeds
    report = _run_job()

    # Then its failures are in the report and in the metric the alarm watches
    assert len(report["errors"]) == 1
    assert "cannot reset this one" in report["errors"][0]
    assert team["team_id"] in report["errors"][0]
    assert published_metrics()[budget_reset.FAILURES_METRIC] == [1]
