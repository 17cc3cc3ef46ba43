"""`make bench`: scale and speed measurements of ingest, metric queries and pages (see bench/run.py)."""
