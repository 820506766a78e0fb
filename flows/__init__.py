"""The dialog flows: one folder (slice) per flow, found by ``bot.slices``; see README.md."""
