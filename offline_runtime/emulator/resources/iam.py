"""AWS::IAM::Role, AWS::IAM::Policy, AWS::IAM::ManagedPolicy.

Named divergence: moto does not enforce IAM (its default), and AWS-managed policies are not
loaded (loading them costs seconds), so ``ManagedPolicyArns`` naming ``arn:aws:iam::aws:policy/…``
are recorded on the role (``Stack.context['managed_policies']``), not attached. Inline policies and
customer-managed policies are created and attached for real, so they can be read back and checked.
"""

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
from offline_runtime.emulator.resources.base import as_json, client, tags_list


def policy_document(doc: Any) -> str:
    """moto refuses a policy document without ``Version`` (MalformedPolicyDocument); IAM accepts one
    (as the 2008-10-17 language). The document is given the current version offline."""
    if isinstance(doc, dict) and "Version" not in doc:
        doc = {"Version": "2012-10-17", **doc}
    return as_json(doc)


@provider("AWS::IAM::Role")
class Role(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        iam = client(stack, "iam")
        name = props.get("RoleName") or physical_name(stack.name, resource.logical_id, 64)
        kwargs: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": as_json(props["AssumeRolePolicyDocument"]),
            "Path": props.get("Path", "/"),
        }
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        if props.get("PermissionsBoundary"):
            kwargs["PermissionsBoundary"] = props["PermissionsBoundary"]
        role = iam.create_role(**kwargs)["Role"]
        for policy in props.get("Policies") or []:
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=policy_document(policy["PolicyDocument"]),
            )
        recorded = stack.context.setdefault("managed_policies", {})
        for arn in props.get("ManagedPolicyArns") or []:
            if str(arn).startswith("arn:aws:iam::aws:policy/"):
                recorded.setdefault(name, []).append(arn)
            else:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@provider("AWS::IAM::Policy")
class Policy(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        iam = client(stack, "iam")
        for role in props.get("Roles") or []:
            iam.put_role_policy(
                RoleName=role,
                PolicyName=props["PolicyName"],
                PolicyDocument=policy_document(props["PolicyDocument"]),
            )
        return Created(f"{stack.name}-{resource.logical_id}")


@provider("AWS::IAM::ManagedPolicy")
class ManagedPolicy(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        iam = client(stack, "iam")
        name = props.get("ManagedPolicyName") or physical_name(stack.name, resource.logical_id, 128)
        arn = iam.create_policy(
            PolicyName=name,
            PolicyDocument=policy_document(props["PolicyDocument"]),
            Path=props.get("Path", "/"),
        )["Policy"]["Arn"]
        for role in props.get("Roles") or []:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        return Created(arn, {"PolicyArn": arn})
