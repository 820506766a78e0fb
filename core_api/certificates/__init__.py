"""Births and deaths: registrations, certificate requests (BND-CERT), issued certificates."""
