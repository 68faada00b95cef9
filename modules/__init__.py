"""Module kinds that plug into an asyncvm context (bytecode, and more to come)."""
