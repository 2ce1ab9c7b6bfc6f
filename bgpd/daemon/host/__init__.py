"""Host integration for the daemon: netlink address watching, sd_notify and atomic state files."""
