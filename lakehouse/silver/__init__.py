"""Silver: typed, validated, de-duplicated, PCI-safe entities."""

from lakehouse.silver import customers, loans, transactions
from lakehouse.silver.entity import Entity

ENTITIES: dict[str, Entity] = {e.name: e for e in (transactions.ENTITY, customers.ENTITY,
                                                    loans.ENTITY)}

__all__ = ["ENTITIES", "Entity"]
