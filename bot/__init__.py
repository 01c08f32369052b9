"""Raabta's conversation side: channel adapters, the dialogue engine, the app and the `raabta` CLI."""
