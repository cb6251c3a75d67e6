"""Gold: customer-level aggregates and marts, pure functions of Silver."""
