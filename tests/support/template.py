"""template.yaml as data: the one source of truth for the table and the routes.

The moto table of the tests and of `make dev` is created from the `Table` resource, and the
dev server maps routes to handlers from the functions' HttpApi events and feeds the table's
stream to the functions of its DynamoDB events, so none can drift from what is deployed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads short-form intrinsics (`!Ref X`, `!Sub ...`) as their long form."""


def _construct_intrinsic(loader: CloudFormationLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)  # the long form takes [resource, attribute]
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path = "template.yaml") -> dict[str, Any]:
    """The template at `path` (relative to the repo root) as plain dicts and lists."""
    with open(REPO_ROOT / path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=CloudFormationLoader)


_NO_VALUE = object()


class _Deployment:
    """The template's conditions and Fn::Ifs under one set of parameter values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]):
        self.template = template
        self.values = {name: str(p.get("Default", ""))
                       for name, p in template.get("Parameters", {}).items()} | parameters
        self.decided: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.decided:
            self.decided[name] = self.holds(self.template["Conditions"][name])
        return self.decided[name]

    def operand(self, value: Any) -> Any:
        return self.values[value["Ref"]] if isinstance(value, dict) and "Ref" in value else value

    def holds(self, expression: dict[str, Any]) -> bool:
        ((function, arguments),) = expression.items()
        if function == "Condition":
            return self.condition(arguments)
        if function == "Fn::Equals":
            return bool(self.operand(arguments[0]) == self.operand(arguments[1]))
        if function == "Fn::Not":
            return not self.holds(arguments[0])
        results = [self.holds(argument) for argument in arguments]
        if function in ("Fn::And", "Fn::Or"):
            return all(results) if function == "Fn::And" else any(results)
        raise ValueError(f"not a condition function: {function}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(self.resolve, node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, chosen, other = node["Fn::If"]
            return self.resolve(chosen if self.condition(name) else other)
        return {key: value for key, value in ((k, self.resolve(v)) for k, v in node.items())
                if value is not _NO_VALUE}


def configured(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The template as CloudFormation deploys it with these parameters (the others at their
    defaults): its conditions decided, each Fn::If replaced by its chosen branch, AWS::NoValue
    dropped, and the resources and outputs of a false condition left out. Other intrinsics stay
    as they are."""
    deployment = _Deployment(template, parameters)
    result = copy.deepcopy(template)
    result["Globals"] = deployment.resolve(template.get("Globals", {}))
    for section in ("Resources", "Outputs"):
        result[section] = {
            name: deployment.resolve(body) for name, body in template.get(section, {}).items()
            if "Condition" not in body or deployment.condition(body["Condition"])}
    return result


def table_definition(template: dict[str, Any]) -> dict[str, Any]:
    """`create_table` kwargs (all but TableName) from the `Table` resource's Properties."""
    props = template["Resources"]["Table"]["Properties"]
    definition = {
        key: copy.deepcopy(props[key])
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        if key in props
    }
    if "StreamSpecification" in props:
        definition["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    return definition


def table_layout(template: dict[str, Any]) -> dict[str, Any]:
    """What the table's items were written for: keys, attribute types, indexes with their
    projections, stream and TTL. `make dev`'s kept data is only good under the layout it was
    written with (billing mode, tags and backups do not matter to it)."""
    props = template["Resources"]["Table"]["Properties"]
    layout = {key: value for key, value in table_definition(template).items()
              if key != "BillingMode"}
    if "TimeToLiveSpecification" in props:
        layout["TimeToLiveSpecification"] = copy.deepcopy(props["TimeToLiveSpecification"])
    return layout


def create_table(client: Any, table_name: str, template: dict[str, Any] | None = None) -> dict:
    """Create the table if it is missing, wait until ACTIVE, enable TTL; returns describe_table."""
    template = template if template is not None else load_template()
    try:
        client.create_table(TableName=table_name, **table_definition(template))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    ttl = template["Resources"]["Table"]["Properties"].get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled") and not _ttl_enabled(client, table_name):
        try:
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        except ClientError as error:
            # DynamoDB refuses to enable TTL twice; already set is what we want.
            if error.response["Error"]["Code"] != "ValidationException":
                raise
    return client.describe_table(TableName=table_name)["Table"]


def _ttl_enabled(client: Any, table_name: str) -> bool:
    # moto enables TTL twice without a word: asking first keeps a kept table's journal short.
    description = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    return description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")


def create_stream(client: Any, stream_name: str, template: dict[str, Any] | None = None,
                  logical_id: str = "AuditStream") -> None:
    """Create the Kinesis stream of the `logical_id` resource (its mode) if it is missing, and
    wait until it is ACTIVE. Retention and encryption are AWS's concern, not moto's."""
    template = template if template is not None else load_template()
    props = template["Resources"][logical_id]["Properties"]
    try:
        client.create_stream(StreamName=stream_name, StreamModeDetails=props["StreamModeDetails"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("stream_exists").wait(
        StreamName=stream_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def create_fifo_queue(client: Any, queue_name: str, template: dict[str, Any] | None = None,
                      logical_id: str = "AuditQueue") -> str:
    """Create the FIFO queue of the `logical_id` resource (its FIFO, deduplication and retention
    attributes) if it is missing; its URL. Encryption is AWS's concern, not moto's."""
    template = template if template is not None else load_template()
    props = template["Resources"][logical_id]["Properties"]
    attributes = {name: str(props[name]).lower() if isinstance(props[name], bool)
                  else str(props[name])
                  for name in ("FifoQueue", "ContentBasedDeduplication", "MessageRetentionPeriod")}
    return str(client.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"])


def create_queue(client: Any, queue_name: str) -> str:
    """An SQS queue (made if missing, as the template's dead-letter queue is in AWS); its URL.
    Retention and encryption are AWS's concern, not moto's."""
    return str(client.create_queue(QueueName=queue_name)["QueueUrl"])


@dataclass(frozen=True)
class Route:
    function: str  # logical id, e.g. TeamNewFunction
    method: str  # upper case, e.g. POST
    path: str  # e.g. /team/new
    module: str  # e.g. functions.team_new.app
    handler: str  # e.g. lambda_handler


@dataclass(frozen=True)
class StreamConsumer:
    """A function fed by a DynamoDB stream (an event-source mapping), as the template sets it."""

    function: str  # logical id, e.g. AuditPublisherFunction
    module: str  # e.g. functions.audit_publisher.app
    handler: str
    table: str  # logical id of the table whose stream it reads
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    maximum_retry_attempts: int  # -1: until the record leaves the stream
    filters: tuple[dict, ...]  # the FilterCriteria patterns, parsed; none: every record
    # Logical id of the SQS queue of DestinationConfig.OnFailure (None: none, Lambda drops
    # what it gives up on)
    on_failure: str | None = None


def function_ids(template: dict[str, Any]) -> list[str]:
    """The logical ids of every function, in template order."""
    return [logical_id for logical_id, *_ in _functions(template)]


def _functions(template: dict[str, Any]) -> Iterator[tuple[str, dict, str, str]]:
    """(logical id, properties with Globals, handler module, handler name) per function."""
    defaults = template.get("Globals", {}).get("Function", {})
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource.get("Properties", {})}
        handler_module, handler = props["Handler"].rsplit(".", 1)
        package = ".".join(Path(props["CodeUri"]).parts)
        yield logical_id, props, f"{package}.{handler_module}", handler


def routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi event of every function, in template order. Functions without one (the
    stream consumer, scheduled jobs) have no route."""
    found = []
    for logical_id, props, module, handler in _functions(template):
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            found.append(
                Route(
                    function=logical_id,
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    module=module,
                    handler=handler,
                )
            )
    return found


def stream_consumers(template: dict[str, Any]) -> list[StreamConsumer]:
    """Every DynamoDB (stream) event of every function, in template order, with Lambda's
    defaults for what the template leaves out."""
    found = []
    for logical_id, props, module, handler in _functions(template):
        for event in props.get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            source = event["Properties"]
            stream = source["Stream"]  # !GetAtt <Table>.StreamArn
            patterns = (source.get("FilterCriteria") or {}).get("Filters") or []
            destination = ((source.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination")  # !GetAtt <Queue>.Arn
            found.append(
                StreamConsumer(
                    function=logical_id,
                    module=module,
                    handler=handler,
                    table=stream["Fn::GetAtt"][0],
                    starting_position=source["StartingPosition"],
                    batch_size=int(source.get("BatchSize", 100)),
                    maximum_retry_attempts=int(source.get("MaximumRetryAttempts", -1)),
                    filters=tuple(json.loads(f["Pattern"]) for f in patterns),
                    on_failure=destination["Fn::GetAtt"][0] if destination else None,
                )
            )
    return found
