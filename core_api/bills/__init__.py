"""Municipal bills (property tax, water and sewerage, trade licence, certificate fees)."""
