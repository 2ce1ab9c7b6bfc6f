"""keepalived (VRRP) inside a lab namespace: what moves the floating IPs between gateways.

One VRRP instance per floating IP, so each gateway can be master of some addresses and backup of
the others (issue 12 §2: spread over the gateways). VRRP version 3 allows advertisement intervals
below a second; at 0.1 s a backup takes over after about 0.35 s (3 × interval + skew), which keeps
failover tests short. Adverts go by multicast (224.0.0.18) over the segment's bridge, which works
inside namespaces as on a real LAN.

keepalived is started by hand in the namespace (no systemd here), in the foreground (``-n``) with
its own pid files, so its process group is the one ``NetLab`` tracks: the VRRP child it forks stays
in that group and goes with it. ``stop`` is a clean shutdown (keepalived sends priority 0 and
removes its addresses, about 1 s); ``kill`` is SIGKILL: the addresses stay where they are, as
after a crash of the process.
"""

from __future__ import annotations

import ipaddress
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from tests.interop.netlab import Namespace, NetLabError, Process, wait_for

ADVERT_INTERVAL = 0.1  # seconds; VRRPv3 counts in centiseconds


@dataclass(frozen=True)
class VrrpInstance:
    """One floating IP: ``address`` as ``a.b.c.d/len`` on ``interface``, VRID ``vrid``."""

    name: str
    interface: str
    vrid: int
    priority: int
    address: str

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)


class Keepalived:
    def __init__(self, ns: Namespace, name: str, instances: Sequence[VrrpInstance]) -> None:
        self.ns = ns
        self.name = name
        self.instances = tuple(instances)
        self.conf = ns.lab.path(f"{name}.conf")
        self.pidfile = ns.lab.path(f"{name}.pid")
        self.vrrp_pidfile = ns.lab.path(f"{name}-vrrp.pid")
        self.process: Process | None = None

    def config_text(self) -> str:
        lines = [
            "global_defs {",
            f"  router_id {self.name}",
            "  vrrp_version 3",
            "  vrrp_garp_master_delay 0",  # no second round of gratuitous ARPs seconds later
            "  max_auto_priority",
            "}",
        ]
        for inst in self.instances:
            lines += [
                f"vrrp_instance {inst.name} {{",
                "  state BACKUP",
                f"  interface {inst.interface}",
                f"  virtual_router_id {inst.vrid}",
                f"  priority {inst.priority}",
                f"  advert_int {ADVERT_INTERVAL}",
                "  virtual_ipaddress {",
                f"    {inst.address} dev {inst.interface}",
                "  }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        if self.process is not None and self.process.alive():
            raise NetLabError(f"{self.name} is running already (pid {self.process.pid})")
        self.conf.write_text(self.config_text())
        argv = ["keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp", "--no-syslog"]
        argv += ["-f", str(self.conf), "-p", str(self.pidfile), "-r", str(self.vrrp_pidfile)]
        self.process = self.ns.spawn(self.name, argv)

    def stop(self) -> None:
        """Clean shutdown: priority 0 is sent and the addresses are removed."""
        if self.process is not None:
            self.ns.lab.stop(self.process)

    def kill(self) -> None:
        """SIGKILL: no goodbye, the addresses stay on the interfaces."""
        if self.process is not None:
            self.ns.lab.stop(self.process, signal.SIGKILL)

    def log_text(self) -> str:
        return self.process.log() if self.process is not None else ""

    def holds(self, ip: str) -> bool:
        """Whether this namespace has ``ip`` on one of its interfaces right now."""
        return holds_address(self.ns, ip)


def holds_address(ns: Namespace, ip: str) -> bool:
    out = ns.ip("-o", "address", "show")
    return any(f" {ip}/" in line for line in out.splitlines())


def wait_holder(namespaces: Sequence[Namespace], ip: str, holder: Namespace, timeout: float) -> None:
    """Wait until ``holder`` and only ``holder`` has ``ip`` (VRRP has settled)."""

    def settled() -> bool:
        return all(holds_address(ns, ip) == (ns is holder) for ns in namespaces)

    wait_for(settled, timeout, f"{ip} held by {holder.name} alone")
