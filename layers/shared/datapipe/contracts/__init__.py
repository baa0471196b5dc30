"""Dataset contracts: the declarative description every stage works from."""

from datapipe.contracts.model import (
    BusinessRule,
    ColumnSpec,
    ContractError,
    DatasetContract,
    DedupePolicy,
    DeliveryExpectation,
    PartitionSpec,
    QualityPolicy,
    RowRule,
    SourcePolicy,
)
from datapipe.contracts.registry import ContractRegistry, default_registry

__all__ = [
    "BusinessRule",
    "ColumnSpec",
    "ContractError",
    "ContractRegistry",
    "DatasetContract",
    "DedupePolicy",
    "DeliveryExpectation",
    "PartitionSpec",
    "QualityPolicy",
    "RowRule",
    "SourcePolicy",
    "default_registry",
]
