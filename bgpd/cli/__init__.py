"""Command-line entry points: ``bgpd`` (daemon and offline tools) and ``bgpctl`` (status client)."""
