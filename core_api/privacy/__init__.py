"""Privacy of public surfaces: what a text may show before it leaves the city's staff."""
