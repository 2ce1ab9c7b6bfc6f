"""bgpd: a pure-Python BGP speaker announcing Kubernetes pod CIDRs (flat-mode pod networking)."""

__version__ = "0.1.0"
