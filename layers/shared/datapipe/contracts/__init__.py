"""Dataset contracts: the declarative description every stage works from."""

from datapipe.contracts.model import (
    BusinessRule,
    ColumnSpec,
    ContractError,
    DatasetContract,
    PartitionSpec,
    QualityPolicy,
    RowRule,
)
from datapipe.contracts.registry import ContractRegistry, default_registry

__all__ = [
    "BusinessRule",
    "ColumnSpec",
    "ContractError",
    "ContractRegistry",
    "DatasetContract",
    "PartitionSpec",
    "QualityPolicy",
    "RowRule",
    "default_registry",
]
