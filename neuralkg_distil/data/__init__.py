"""Dataset tools: fetching the benchmark graphs and generating synthetic ones."""
