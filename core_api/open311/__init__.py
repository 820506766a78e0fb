"""Open311 GeoReport v2 facade over complaints (/open311/v2)."""
