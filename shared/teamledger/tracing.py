"""X-Ray tracing of a Lambda handler, with botocore's calls as subsegments, loaded on the
handler's first call rather than at init.

Lambda's active tracing (template.yaml) records each invocation whatever the code does; the
X-Ray SDK adds the DynamoDB calls under it. Making Powertools' Tracer imports the SDK and patches
botocore (about 20 ms): done at init, every cold start paid it before any request. No AWS call
happens before the first request, so patching then loses no subsegment.
"""

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


def traced(handler: Handler) -> Any:
    """`handler` inside Powertools' Tracer (responses are never recorded: they may hold a new
    key), the Tracer made on the first call. (Any, as Powertools' own decorators are typed.)"""
    made: list[Handler] = []

    def run(event: dict[str, Any], context: Any) -> Any:
        if not made:
            from aws_lambda_powertools import Tracer

            # Only botocore: patching everything imports every HTTP library it knows of.
            tracer = Tracer(patch_modules=("botocore",))
            made.append(tracer.capture_lambda_handler(handler, capture_response=False))
        return made[0](event, context)

    return run
