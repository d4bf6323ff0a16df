"""The complaints domain, free of side effects: safe to import from workflow code."""
