"""Persistence: database engine and migrations, ORM tables, content-addressed blob store."""
