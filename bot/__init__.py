"""Dialog runtime: flow engine, sessions, NLU adapters, i18n, core-API client, notifier."""
