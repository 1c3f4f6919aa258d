"""ARNs in AWS form: account and region are settings."""

from __future__ import annotations

from homeport.settings import Settings


def arn(settings: Settings, resource: str, name: str) -> str:
    # SageMaker lower-cases the resource name inside its ARNs.
    return f"arn:aws:sagemaker:{settings.region}:{settings.account_id}:{resource}/{name.lower()}"


def log_group(settings: Settings, endpoint: str) -> str:
    return f"arn:aws:logs:{settings.region}:{settings.account_id}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
