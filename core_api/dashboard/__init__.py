"""Dashboard figures for city administrators: aggregate queries, CSV, the /dashboard page."""
