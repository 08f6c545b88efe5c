"""opcloud: deploy procurement platforms per country and move their data between clouds."""

__version__ = "0.1.0"
