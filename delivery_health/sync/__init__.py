"""Live syncs: fetch records from a source's API and load them through the same loaders as export files."""
