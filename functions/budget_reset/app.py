"""The budget reset, on its EventBridge Scheduler schedule: resets every budget whose period
has ended, and stops before the time limit, leaving the rest to the next run."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from teamledger.domain import budget_reset

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = budget_reset.run(remaining_ms=context.get_remaining_time_in_millis)
    logger.info("Budget reset run", extra=report.as_dict())
    # A run with item errors still succeeds for Lambda: this count is what alarms on it
    # (template.yaml's BudgetResetFailuresAlarm).
    metrics.add_metric(name=budget_reset.FAILURES_METRIC, unit=MetricUnit.Count,
                       value=len(report.errors))
    return report.as_dict()
