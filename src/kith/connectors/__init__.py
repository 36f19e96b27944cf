"""Live connectors: a tenant's connections to external accounts (Google: Gmail and Contacts), synced
incrementally through the same pipeline as file imports (kith.sync)."""
