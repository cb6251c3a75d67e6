"""AWS adapters: boto3 clients from the settings, landing uploads to S3 with SSE-KMS, and the
Glue workflow (start a run, read its status). The Glue Data Catalog registrar is
``lakehouse.catalog.store.GlueCatalog``; the Athena engine is ``lakehouse.engines.athena``."""

from __future__ import annotations

from typing import Any

from lakehouse.config import AwsSettings, Settings
from lakehouse.errors import LakehouseError


def aws_client(settings: Settings | AwsSettings | None, service: str) -> Any:
    """A boto3 client with the configured region and endpoint (boto3's defaults when unset)."""
    import boto3
    from botocore.exceptions import BotoCoreError, NoRegionError

    aws = settings.aws if isinstance(settings, Settings) else settings or AwsSettings()
    try:
        return boto3.client(service, region_name=aws.region, endpoint_url=aws.endpoint_url)
    except NoRegionError:
        raise LakehouseError(f"AWS {service}: no region is set (aws.region in "
                             "conf/env/<env>.yaml, LAKEHOUSE_AWS_REGION or "
                             "AWS_DEFAULT_REGION)") from None
    except BotoCoreError as exc:
        raise LakehouseError(aws_error(f"AWS {service} client", exc)) from None


def aws_error(operation: str, exc: Exception) -> str:
    """One line for a failed AWS call: the service's message, never a traceback."""
    response = getattr(exc, "response", None) or {}
    message = response.get("Error", {}).get("Message") or str(exc)
    return f"{operation} failed: {message}"
