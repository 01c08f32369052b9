"""Channel adapters: each turns its platform's events into `Inbound` and `Reply` into its platform's calls."""
