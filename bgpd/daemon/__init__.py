"""The daemon: plan → running sessions, live reloads, floating-IP tracking, control-socket answers.

What runs and what it announces is decided by the pure plan (``bgpd.plan``: the plan, and the diff
of the running sessions against a new one); the daemon executes it. ``handlers`` (control-socket
data from snapshots, pure), ``inputs`` (the cluster and settings files, the held addresses),
``runner`` (asyncio: signals, reloads, address events, systemd notifications, the clean stop),
``host`` (netlink, sd_notify, state files).
"""
