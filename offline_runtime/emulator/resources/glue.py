"""AWS::Glue::Database and AWS::Glue::Table (moto's CloudFormation skips both)."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import Created, Provider, Resource, Stack, provider
from offline_runtime.emulator.resources.base import client


@provider("AWS::Glue::Database")
class Database(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        database = props["DatabaseInput"]
        client(stack, "glue").create_database(DatabaseInput=database)
        return Created(database["Name"])


@provider("AWS::Glue::Table")
class Table(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        client(stack, "glue").create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])
        return Created(props["TableInput"]["Name"])
