"""Payment intents, gateways (built-in sandbox, Razorpay), verified callbacks and receipts."""
