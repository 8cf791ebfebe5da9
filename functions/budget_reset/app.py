"""The budget reset, on its EventBridge Scheduler schedule: resets every budget whose period
has ended, and stops before the time limit, leaving the rest to the next run."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from teamledger.domain import budget_reset

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = budget_reset.run(remaining_ms=context.get_remaining_time_in_millis)
    logger.info("Budget reset run", extra=report.as_dict())
    return report.as_dict()
