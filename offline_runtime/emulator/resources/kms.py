"""AWS::KMS::Key (with its key policy) and AWS::KMS::Alias."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import Created, Provider, Resource, Stack, provider
from offline_runtime.emulator.resources.base import as_json, client, tags_list


@provider("AWS::KMS::Key")
class Key(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        kms = client(stack, "kms")
        kwargs: dict[str, Any] = {
            "Description": props.get("Description", ""),
            "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
        }
        if props.get("KeyPolicy"):
            kwargs["Policy"] = as_json(props["KeyPolicy"])
        if props.get("Tags"):
            kwargs["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags_list(props["Tags"])]
        meta = kms.create_key(**kwargs)["KeyMetadata"]
        if str(props.get("EnableKeyRotation", "false")).lower() == "true":
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        return Created(meta["KeyId"], {"Arn": meta["Arn"], "KeyId": meta["KeyId"]})


@provider("AWS::KMS::Alias")
class Alias(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        client(stack, "kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return Created(props["AliasName"])
