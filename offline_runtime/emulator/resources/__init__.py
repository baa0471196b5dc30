"""Resource providers: one module per service, each creating its types through moto's APIs.

Importing this package registers every provider with ``cloudformation.PROVIDERS``.
"""

from offline_runtime.emulator.resources import (  # noqa: F401  (imported to register the providers)
    athena,
    awslambda,
    cloudwatch,
    dynamodb,
    events,
    glue,
    iam,
    kms,
    logs,
    s3,
    scheduler,
    sns,
    sqs,
    ssm,
    stepfunctions,
)
