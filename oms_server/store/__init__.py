"""Persistence: the journal of orders and events, on SQLAlchemy async (SQLite or PostgreSQL)."""
