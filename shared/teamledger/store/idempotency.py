"""Idempotency records (Powertools Idempotency) in the one table: one partition per hashed
(caller, route, header value) under `IDEMPOTENCY#`, where Powertools' own composite key would
put every record into one static partition; TTL (`ttl`) removes them."""

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from teamledger.store import keys
from teamledger.store.client import client, table_name


class IdempotencyStore(DynamoDBPersistenceLayer):
    def __init__(self) -> None:
        super().__init__(
            table_name=table_name(), key_attr="PK", sort_key_attr="SK", expiry_attr="ttl",
            in_progress_expiry_attr="in_progress_expiry", status_attr="request_status",
            data_attr="answer", validation_key_attr="body_hash", boto3_client=client())

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {name: {"S": value}
                for name, value in keys.idempotency_record(idempotency_key).items()}
