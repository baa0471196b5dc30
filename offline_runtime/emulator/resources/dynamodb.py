"""AWS::DynamoDB::Table: keys, indexes, streams, TTL, point-in-time recovery, encryption, tags."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import (
    Created,
    Provider,
    Resource,
    Stack,
    physical_name,
    provider,
)
from offline_runtime.emulator.resources.base import client, tags_list


def _index(index: dict[str, Any], provisioned: bool) -> dict[str, Any]:
    out: dict[str, Any] = {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
    if provisioned and "ProvisionedThroughput" in index:
        out["ProvisionedThroughput"] = {k: int(v) for k, v in index["ProvisionedThroughput"].items()}
    return out


@provider("AWS::DynamoDB::Table")
class Table(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        ddb = client(stack, "dynamodb")
        name = props.get("TableName") or physical_name(stack.name, resource.logical_id, 255)
        billing = props.get("BillingMode", "PROVISIONED")
        provisioned = billing == "PROVISIONED"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": billing,
        }
        if provisioned:
            throughput = props.get("ProvisionedThroughput") or {
                "ReadCapacityUnits": 5,
                "WriteCapacityUnits": 5,
            }
            kwargs["ProvisionedThroughput"] = {k: int(v) for k, v in throughput.items()}
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                _index(i, provisioned) for i in props["GlobalSecondaryIndexes"]
            ]
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = [_index(i, False) for i in props["LocalSecondaryIndexes"]]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            kwargs["SSESpecification"] = {
                "Enabled": str(sse.get("SSEEnabled", False)).lower() == "true",
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        if "DeletionProtectionEnabled" in props:
            kwargs["DeletionProtectionEnabled"] = str(props["DeletionProtectionEnabled"]).lower() == "true"
        table = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", False)).lower() == "true":
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and str(pitr.get("PointInTimeRecoveryEnabled", False)).lower() == "true":
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Created(name, attributes)
