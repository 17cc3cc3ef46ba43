"""Metric queries: SQLAlchemy Core that runs unchanged on DuckDB and PostgreSQL, returning DataFrames."""
