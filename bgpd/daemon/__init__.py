"""The daemon: plan → running sessions, live reloads, floating-IP tracking, control-socket answers.

``segments`` (which routes a session carries and why, pure), ``reconcile`` (old vs new desired
sessions → the fewest actions, pure), ``handlers`` (control-socket data from snapshots, pure),
``inputs`` (the cluster and settings files, the held floating IPs), ``runner`` (asyncio: signals,
reloads, address events, systemd notifications, the clean stop).
"""
