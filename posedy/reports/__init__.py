"""Documents generated from measurements (the tools in ``tools/`` write them)."""
