"""Persistence: the journal of orders and events, on SQLAlchemy async (SQLite or PostgreSQL).

Group commits to a SQLite file go through a stdlib sqlite3 writer thread instead.
"""
