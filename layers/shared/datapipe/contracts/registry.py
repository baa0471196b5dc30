"""Finds the contract for a raw object key; loads every JSON contract in ``definitions/``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from datapipe.contracts.model import ContractError, DatasetContract, parse_contract

DEFINITIONS = Path(__file__).with_name("definitions")


class ContractRegistry:
    def __init__(self, contracts: list[DatasetContract]) -> None:
        self._by_name = {c.name: c for c in contracts}
        if len(self._by_name) != len(contracts):
            raise ContractError("two contracts share a name")
        prefixes = [c.raw_prefix for c in contracts]
        for a in prefixes:
            for b in prefixes:
                if a != b and b.startswith(a):
                    raise ContractError(f"raw prefixes overlap: {a!r} and {b!r}")

    @classmethod
    def from_directory(cls, directory: Path) -> ContractRegistry:
        contracts = []
        for path in sorted(directory.glob("*.json")):
            try:
                contracts.append(parse_contract(json.loads(path.read_text(encoding="utf-8"))))
            except (ContractError, KeyError, json.JSONDecodeError) as exc:
                raise ContractError(f"{path.name}: {exc}") from exc
        return cls(contracts)

    def get(self, name: str) -> DatasetContract:
        try:
            return self._by_name[name]
        except KeyError:
            raise ContractError(f"unknown dataset {name!r}; known: {sorted(self._by_name)}") from None

    def for_key(self, key: str) -> DatasetContract | None:
        """The contract whose raw prefix the object key starts with, or None."""
        for contract in self._by_name.values():
            if key.startswith(contract.raw_prefix):
                return contract
        return None

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())


@lru_cache(maxsize=1)
def default_registry() -> ContractRegistry:
    return ContractRegistry.from_directory(DEFINITIONS)
