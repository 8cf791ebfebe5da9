"""template.yaml's operations: alarms to one topic, a log group per function with its retention,
an access log without secrets, API throttling, the reset schedule's retry and dead-letter queue,
the table's deletion protection, and no master key a deployed function could read from its
environment."""

import json
import re

import pytest
from teamledger.domain import budget_reset
from teamledger.http import app

from tests.support.template import REPO_ROOT, function_ids, load_template, stream_consumers

TOPIC = {"Ref": "AlarmTopic"}
LOCAL_ONLY = {"Fn::If": ["IsLocal", "", {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def template():
    return load_template()


def resources(template, kind: str) -> dict[str, dict]:
    return {logical_id: resource for logical_id, resource in template["Resources"].items()
            if resource.get("Type") == kind}


def alarms(template) -> dict[str, dict]:
    return resources(template, "AWS::CloudWatch::Alarm")


def watched(alarm: dict) -> list[tuple[str, str, dict]]:
    """(namespace, metric name, dimensions) of every metric the alarm reads."""
    props = alarm["Properties"]
    if "Metrics" not in props:
        stats = [{"Namespace": props["Namespace"], "MetricName": props["MetricName"],
                  "Dimensions": props.get("Dimensions", [])}]
    else:
        stats = [query["MetricStat"]["Metric"] for query in props["Metrics"]
                 if "MetricStat" in query]
    return [(m["Namespace"], m["MetricName"],
             {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}) for m in stats]


def alarms_on(template, namespace: str, metric: str, **dimensions) -> list[str]:
    return [logical_id for logical_id, alarm in alarms(template).items()
            if any((ns, name) == (namespace, metric) and all(dims.get(k) == v
                                                             for k, v in dimensions.items())
                   for ns, name, dims in watched(alarm))]


def test_every_alarm_notifies_the_topic_and_email_is_optional(template):
    # Given the alarms of the template
    found = alarms(template)
    assert found

    # Then each notifies the one topic, and an email is subscribed only when one is given
    for logical_id, alarm in found.items():
        assert TOPIC in alarm["Properties"]["AlarmActions"], logical_id
        assert alarm["Properties"].get("TreatMissingData") == "notBreaching", logical_id
    assert template["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def test_every_function_has_an_errors_and_a_throttles_alarm_behind_its_parameter(template):
    for function in function_ids(template):
        for metric in ("Errors", "Throttles"):
            (alarm_id,) = alarms_on(template, "AWS/Lambda", metric,
                                    FunctionName={"Ref": function})
            alarm = template["Resources"][alarm_id]
            assert alarm["Condition"] == "FunctionAlarms", alarm_id
            assert alarm["Properties"]["Threshold"] == 0
    assert template["Conditions"]["FunctionAlarms"] == {
        "Fn::Equals": [{"Ref": "EnableFunctionAlarms"}, "true"]}
    assert template["Parameters"]["EnableFunctionAlarms"]["AllowedValues"] == ["true", "false"]


def test_the_api_alarms_on_its_5xx_rate_and_p99_latency(template):
    api = {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}

    (rate_id,) = alarms_on(template, "AWS/ApiGateway", "5xx", **api)
    assert rate_id in alarms_on(template, "AWS/ApiGateway", "Count", **api)  # a rate
    (latency_id,) = alarms_on(template, "AWS/ApiGateway", "Latency", **api)
    latency = template["Resources"][latency_id]["Properties"]
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == {"Ref": "ApiLatencyP99AlarmMs"}


def test_every_dead_letter_queue_alarms_on_its_depth(template):
    queues = resources(template, "AWS::SQS::Queue")
    assert {"AuditPublisherDeadLetterQueue", "BudgetResetDeadLetterQueue"} <= set(queues)

    for queue in set(queues) - {"AuditQueue"}:
        assert alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                         QueueName={"Fn::GetAtt": [queue, "QueueName"]}), queue
    # The audit queue is no dead-letter queue: its consumers are optional, so records waiting
    # in it are no alarm (README "Operate it")
    assert not [alarm for alarm in alarms(template).values()
                if "AuditQueue" in str(alarm["Properties"])]


def test_every_stream_consumer_alarms_on_its_iterator_age(template):
    consumers = {consumer.function for consumer in stream_consumers(template)}
    assert "AuditPublisherFunction" in consumers

    for function in consumers:
        assert alarms_on(template, "AWS/Lambda", "IteratorAge",
                         FunctionName={"Ref": function}), function


def test_the_table_alarms_on_throttled_reads_and_writes(template):
    table = {"TableName": {"Ref": "Table"}}

    assert alarms_on(template, "AWS/DynamoDB", "ReadThrottleEvents", **table)
    assert alarms_on(template, "AWS/DynamoDB", "WriteThrottleEvents", **table)


@pytest.mark.parametrize("metric", [app.UNEXPECTED_ERRORS_METRIC, budget_reset.FAILURES_METRIC])
def test_the_metrics_the_code_emits_have_alarms(template, metric):
    # The namespace and the service dimension are the ones Powertools gets in Globals
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    (alarm_id,) = alarms_on(template, variables["POWERTOOLS_METRICS_NAMESPACE"], metric,
                            service=variables["POWERTOOLS_SERVICE_NAME"])
    assert template["Resources"][alarm_id]["Properties"]["Threshold"] == 0
    assert "Condition" not in template["Resources"][alarm_id]


def test_the_dashboard_is_optional_and_shows_every_unconditional_alarm(template):
    dashboard = template["Resources"]["Dashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    assert dashboard["Condition"] == "Dashboard"
    assert template["Parameters"]["EnableDashboard"]["AllowedValues"] == ["true", "false"]

    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # It is JSON once CloudFormation has filled in its ${...}
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    for logical_id, alarm in alarms(template).items():
        if "Condition" not in alarm:
            assert f"${{{logical_id}.Arn}}" in body, logical_id


def test_every_function_has_its_log_group_with_the_retention_parameter(template):
    log_groups = resources(template, "AWS::Logs::LogGroup")
    names = {json.dumps(group["Properties"].get("LogGroupName")): group["Properties"]
             for group in log_groups.values()}

    for function in function_ids(template):
        props = names.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{function}}}"}))
        assert props is not None, function
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_access_log_is_json_by_route_template_without_secrets(template):
    props = template["Resources"]["HttpApi"]["Properties"]
    access_log = props["AccessLogSettings"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}

    fields = json.loads(access_log["Format"])
    variables = set(re.findall(r"\$context\.[A-Za-z.]+", access_log["Format"]))
    # Then each line names the route by its template, and holds no path, query or header
    assert fields["routeKey"] == "$context.routeKey"
    assert "$context.status" in variables
    for variable in variables:
        assert not re.search(r"path|query|header|authori[sz]|key\b", variable.lower()
                             .replace("routekey", "")), variable
    assert "$request." not in access_log["Format"]


def test_the_api_throttles_by_default_as_its_parameters_say(template):
    settings = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]

    assert settings == {"ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
                        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"}}
    for name in ("ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"):
        assert template["Parameters"][name]["Default"] > 0


def test_no_deployed_function_has_a_master_key_or_local_endpoint_variable(template):
    # Given each function's variables (Globals, then its own)
    defaults = template["Globals"]["Function"]["Environment"]["Variables"]
    for function in function_ids(template):
        own = (template["Resources"][function]["Properties"].get("Environment") or {})
        variables = {**defaults, **own.get("Variables", {})}

        # Then the master key and the local endpoints exist only when IsLocal holds
        for name in ("MASTER_KEY", "LOCAL_DEV", "DYNAMODB_ENDPOINT", "KINESIS_ENDPOINT",
                     "SQS_ENDPOINT"):
            assert variables.get(name, LOCAL_ONLY) == LOCAL_ONLY, (function, name)
        assert variables["MASTER_KEY_SECRET_NAME"] == {"Ref": "MasterKeySecret"}
    # And IsLocal is false unless a local invocation says otherwise
    assert template["Conditions"]["IsLocal"] == {"Fn::Equals": [{"Ref": "LocalInvoke"}, "true"]}
    assert template["Parameters"]["LocalInvoke"]["Default"] == "false"


def test_the_table_has_deletion_protection_and_point_in_time_recovery(template):
    table = template["Resources"]["Table"]

    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_the_reset_schedule_retries_and_has_a_dead_letter_queue(template):
    props = template["Resources"]["BudgetResetFunction"]["Properties"]
    (schedule,) = [event["Properties"] for event in props["Events"].values()
                   if event["Type"] == "ScheduleV2"]
    queue = {"Fn::GetAtt": ["BudgetResetDeadLetterQueue", "Arn"]}

    # Then Scheduler retries what Lambda refused, and sends what it gave up on to the queue
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert schedule["DeadLetterConfig"] == {"Arn": queue}
    # And a run that failed is retried, then lands in the same queue
    invoke = props["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] > 0
    assert invoke["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": queue}
    assert template["Resources"]["BudgetResetDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"


def test_the_readme_says_what_each_alarm_means(template):
    # Given the README's "Operate it" section
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Operate it", 1)[1].split("\n## ", 1)[0]

    # Then every alarm is in its table (the per-function ones as <Function>ErrorsAlarm, ...)
    functions = function_ids(template)
    for logical_id in alarms(template):
        generic = next((logical_id.replace(f, "<Function>", 1) for f in functions
                        if logical_id.startswith(f) and logical_id[len(f):] in (
                            "ErrorsAlarm", "ThrottlesAlarm")), logical_id)
        assert f"`{generic}`" in section, logical_id
