"""Engine set-up beyond DuckDB (which `store.Store` opens itself): Spark sessions."""
