"""The migration engine: object stores, databases, plans, state and verification."""
