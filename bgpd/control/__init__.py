"""The control socket: JSON-lines ``protocol``, asyncio ``server``, blocking ``client`` for bgpctl."""
