"""Deployment settings, read from the environment once per execution environment."""

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    master_key: str | None
    master_key_secret_name: str | None
    available_teams: frozenset[str]
    dynamodb_endpoint: str | None = None
    # What carries the audit records (publisher only): "sqs-fifo" (AUDIT_QUEUE_URL) or
    # "kinesis" (AUDIT_STREAM_NAME), as template.yaml's AuditCarrier says.
    audit_carrier: str = "sqs-fifo"
    audit_queue_url: str | None = None
    audit_stream_name: str | None = None
    sqs_endpoint: str | None = None
    kinesis_endpoint: str | None = None
    # Set by `make dev` and by events/env.json (sam local), never in AWS: a weak master key is
    # then warned about instead of refused (http/auth.py).
    local_dev: bool = False

    @classmethod
    def from_environment(cls) -> "Settings":
        table_name = os.environ.get("TABLE_NAME", "").strip()
        if not table_name:
            raise RuntimeError("TABLE_NAME is not set")
        teams = os.environ.get("AVAILABLE_TEAMS", "")
        return cls(
            table_name=table_name,
            master_key=os.environ.get("MASTER_KEY") or None,
            master_key_secret_name=os.environ.get("MASTER_KEY_SECRET_NAME") or None,
            available_teams=frozenset(t.strip() for t in teams.split(",") if t.strip()),
            dynamodb_endpoint=os.environ.get("DYNAMODB_ENDPOINT") or None,
            audit_carrier=os.environ.get("AUDIT_CARRIER", "").strip() or "sqs-fifo",
            audit_queue_url=os.environ.get("AUDIT_QUEUE_URL") or None,
            audit_stream_name=os.environ.get("AUDIT_STREAM_NAME") or None,
            sqs_endpoint=os.environ.get("SQS_ENDPOINT") or None,
            kinesis_endpoint=os.environ.get("KINESIS_ENDPOINT") or None,
            local_dev=os.environ.get("LOCAL_DEV", "").strip().lower() in ("1", "true", "yes"),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_environment()
