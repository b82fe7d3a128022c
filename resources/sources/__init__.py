"""Readers for the places step 3 gathers data from: file drops, SQL databases, the ServiceNow
Table API and Prometheus, plus the column presets of common ITSM tools.

Every reader does the same thing: it lands a source's rows, as text and in the source's own
columns, into a DuckDB staging table with the source line or row number. `landing.py` then
assigns each row its day partition and replaces exactly the run's days in the raw table.
This package imports nothing heavy at import time, so configuration can load presets cheaply.
"""
