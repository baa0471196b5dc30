"""AWS::S3::Bucket (with the properties moto's CloudFormation ignores) and AWS::S3::BucketPolicy."""

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


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape -> the S3 API's."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
    if "Prefix" in rule:
        out["Filter"] = {"Prefix": rule["Prefix"]}
    elif "TagFilters" in rule:
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule["TagFilters"]]
        out["Filter"] = {"Tag": tags[0]} if len(tags) == 1 else {"And": {"Tags": tags}}
    else:
        out["Filter"] = {"Prefix": ""}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    transitions = [dict(t) for t in rule.get("Transitions", [])]
    if "Transition" in rule:
        transitions.append(dict(rule["Transition"]))
    if transitions:
        out["Transitions"] = [_transition(t) for t in transitions]
    nc_transitions = list(rule.get("NoncurrentVersionTransitions", []))
    if "NoncurrentVersionTransition" in rule:
        nc_transitions.append(rule["NoncurrentVersionTransition"])
    if nc_transitions:
        out["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in nc_transitions
        ]
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    elif "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return out


def _transition(t: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"StorageClass": t["StorageClass"]}
    if "TransitionInDays" in t:
        out["Days"] = int(t["TransitionInDays"])
    if "TransitionDate" in t:
        out["Date"] = t["TransitionDate"]
    return out


def _notifications(props: dict[str, Any]) -> dict[str, Any] | None:
    conf = props.get("NotificationConfiguration") or {}
    out: dict[str, Any] = {}
    if (conf.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        out["EventBridgeConfiguration"] = {}

    def filters(entry: dict[str, Any]) -> dict[str, Any]:
        rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules")
        return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}

    for cfn_key, api_key, arn_key in (
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function"),
        ("QueueConfigurations", "QueueConfigurations", "Queue"),
        ("TopicConfigurations", "TopicConfigurations", "Topic"),
    ):
        entries = conf.get(cfn_key) or []
        if entries:
            api_arn = {"Function": "LambdaFunctionArn", "Queue": "QueueArn", "Topic": "TopicArn"}[arn_key]
            out[api_key] = [{api_arn: e[arn_key], "Events": [e["Event"]], **filters(e)} for e in entries]
    return out or None


@provider("AWS::S3::Bucket")
class Bucket(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        s3 = client(stack, "s3")
        name = props.get("BucketName") or physical_name(stack.name, resource.logical_id, 63, lower=True)
        kwargs: dict[str, Any] = {"Bucket": name}
        if stack.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
        s3.create_bucket(**kwargs)
        self._configure(s3, name, props)
        return Created(
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{stack.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{stack.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{stack.region}.amazonaws.com",
            },
        )

    @staticmethod
    def _configure(s3: Any, name: str, props: dict[str, Any]) -> None:
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        if "BucketEncryption" in props:
            rules = []
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]:
                api_rule: dict[str, Any] = {}
                if "ServerSideEncryptionByDefault" in rule:
                    api_rule["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
                if "BucketKeyEnabled" in rule:
                    api_rule["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower() == "true"
                rules.append(api_rule)
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    k: str(v).lower() == "true" if not isinstance(v, bool) else v
                    for k, v in props["PublicAccessBlockConfiguration"].items()
                },
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [lifecycle_rule(r) for r in rules]}
            )
        notifications = _notifications(props)
        if notifications:
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=notifications)
        if props.get("Tags"):
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_list(props["Tags"])})
        if props.get("CorsConfiguration"):
            names = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
            s3.put_bucket_cors(
                Bucket=name,
                CORSConfiguration={
                    "CORSRules": [
                        {names.get(k, k): v for k, v in rule.items()}
                        for rule in props["CorsConfiguration"]["CorsRules"]
                    ]
                },
            )


@provider("AWS::S3::BucketPolicy")
class BucketPolicy(Provider):
    """Recorded, not applied: moto enforces a bucket policy's Deny statements without their
    Conditions, so the usual TLS-only policy (deny when aws:SecureTransport is false) would deny
    every request, unlike AWS. The recorded documents are checked by the template tests."""

    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        stack.context.setdefault("unapplied_bucket_policies", {})[resource.logical_id] = props[
            "PolicyDocument"
        ]
        return Created(f"{props['Bucket']}-policy")
