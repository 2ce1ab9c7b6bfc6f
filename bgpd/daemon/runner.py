"""The running daemon: plan → sessions, reloads, floating IPs that come and go, clean stops.

Everything that changes what runs goes through one lock and one function, ``_apply``: build the
plan for the current manifests, settings and held addresses, commit the ledger if allocations
moved (a block goes out only once the ledger on disk gives it: ``_record``, ``bgpd.plan.durable``),
diff the plan against the sessions running now (``bgpd.plan.diff``) and carry out the changes.
The plan decides everything that goes on the wire; this module only executes. So a SIGHUP,
``bgpctl reload`` and an address event can never interleave, and an unchanged session is never
touched (the diff has nothing for it).

Reloads happen only when asked for (SIGHUP, ``systemctl reload``, ``bgpctl reload``): the files are
not watched, because a file caught half-written may be valid and wrong (see ``bgpd.daemon.inputs``).
Signal handlers only wake the main task (OpenBGPD's ``sighdlr`` habit); a reload parses and
validates first and keeps the old plan on any error (BIRD, knot-resolver). systemd hears
READY/RELOADING/STOPPING/STATUS/WATCHDOG through ``bgpd.daemon.host.systemd`` (no-ops outside systemd).

Stops (graceful restart, RFC 4724 with RFC 8538; docs/operator-guide.md "Restarts, upgrades and
stops"): SIGTERM/SIGINT (``systemctl stop`` and ``restart`` alike) is a restart: the restart record
goes to the state directory first, then every session ends so that graceful restart peers keep our
routes for the restart time; the next start within that time sends the Restart State bit, the
whole table and End-of-RIB. ``bgpctl stop --withdraw`` is the stop that withdraws: Hard Reset (or a
plain Cease to peers without the N bit) on every session, and no restart record. A session taken
over because its floating IP arrived here after the start is the same BGP identity restarting on
this gateway, so it starts with the Restart State bit too. How the plan's other stops end a session
(withdrawing or graceful) is ``STOP_KINDS`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

import structlog

from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.control.server import ControlServer, ControlSocketError
from bgpd.daemon import allocation
from bgpd.daemon.handlers import LedgerLag, ReloadRejectedError, Snapshot, commands
from bgpd.daemon.host import systemd
from bgpd.daemon.host.addrwatch import Change as AddressChange
from bgpd.daemon.host.statefile import (
    RestartRecord,
    RestartRecordError,
    clear_restart_record,
    load_restart_record,
    save_ledger,
    save_maintenance,
    save_restart_record,
)
from bgpd.daemon.inputs import (
    AddressSource,
    ConfigFile,
    ConfigRejectedError,
    StaticAddresses,
    WatchedAddresses,
    read_settings,
)
from bgpd.daemon.loop_lag import LoopLag, LoopLagProbe
from bgpd.daemon.metrics import DaemonReading, Format, render
from bgpd.daemon.metrics_http import MetricsListener
from bgpd.manifests import Loaded, Manifests
from bgpd.plan import Plan, Planner, Problem, Session, SessionConfig, planned_sessions
from bgpd.plan.diff import (
    Change,
    Disable,
    Enable,
    Reconfigure,
    Reset,
    Start,
    Stop,
    StopReason,
    UpdateRoutes,
    diff,
    speaker_changes,
)
from bgpd.plan.durable import Grant, unrecorded, withheld
from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.plan.settings import Settings
from bgpd.plan.usage import PoolUsage, PoolUsageCounter
from bgpd.rib.ledger import Ledger, LedgerError, LedgerText
from bgpd.rib.routes import Route
from bgpd.speaker import (
    ReceivedRoute,
    SessionNotEstablishedError,
    SessionReading,
    SessionStatus,
    SessionSummary,
    SoftReset,
    Speaker,
)
from bgpd.speaker.listing import Within
from bgpd.wire.constants import CeaseSub, Family
from bgpd.wire.nlri import Prefix

__all__ = ["Daemon", "RunOptions", "SpeakerLike", "serve"]

STOP_TEXT: Final = "bgpd stopping"  # the stop that withdraws (RFC 9003 communication)
RESTART_TEXT: Final = "bgpd restarting"  # SIGTERM: graceful restart peers keep our routes
STOP_BUDGET: Final = 1.5  # seconds for every Cease to leave; the exit must come within 2 s
STATUS_INTERVAL: Final = 5.0
LEDGER_RETRY: Final = 10.0  # seconds between writes of a ledger whose last write failed

_log = structlog.get_logger("bgpd.daemon")
_NAME = operator.attrgetter("name")


class LedgerUnwrittenError(Exception):
    """A plan gives pod CIDRs the ledger on disk does not record, and the ledger cannot be written."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    config: Path
    settings: Path | None
    state_dir: Path
    socket: Path


class SpeakerLike(Protocol):
    """The part of ``bgpd.speaker.Speaker`` the daemon drives (tests substitute a recorder)."""

    async def add_session(
        self,
        config: SessionConfig,
        routes: Iterable[Route] | None = (),
        *,
        shutdown: str | None = None,
        restarting: bool = False,
    ) -> None: ...

    async def remove_session(
        self, name: str, subcode: int = ..., text: str = "", *, graceful: bool = False
    ) -> None: ...

    async def shutdown_session(self, name: str, text: str = "") -> None: ...

    def start_session(self, name: str) -> None: ...

    async def reconfigure_session(self, name: str, config: SessionConfig) -> None: ...

    def set_routes(self, name: str, routes: Iterable[Route]) -> None: ...

    def change_routes(
        self, name: str, announce: Iterable[Route], withdraw: Iterable[tuple[Family, Prefix]]
    ) -> None: ...

    def refresh_session(self, name: str) -> SoftReset: ...

    def state(self, name: str) -> SessionStatus: ...

    def summaries(self) -> dict[str, SessionSummary]: ...

    def received(self, name: str, within: Within | None = None) -> Iterator[ReceivedRoute | None]: ...

    def readings(self) -> list[SessionReading]: ...

    async def close(self, text: str = "", *, graceful: bool = False) -> None: ...


STOP_KINDS: Final = {
    # RFC 4486 6/3, withdrawing (a Hard Reset with the N bit, RFC 8538 §5): the peer is gone from the plan
    StopReason.DECONFIGURED: (CeaseSub.PEER_DECONFIGURED, False),
    # 6/4, graceful: the session goes on from the floating IP's new holder, the peer keeps the routes
    StopReason.ADDRESS_LEFT: (CeaseSub.ADMINISTRATIVE_RESET, True),
}
"""Why a running session stops -> its Cease subcode, and whether the stop is graceful."""


class Daemon:
    """The daemon's state and its one way of changing it (``_apply``); see the module docstring."""

    def __init__(
        self,
        config: ConfigFile,
        *,
        settings_path: Path | None,
        state_dir: Path,
        loaded: Loaded,
        settings: Settings,
        ledger: Ledger,
        speaker: SpeakerLike,
        addresses: AddressSource,
        maintenance: Maintenance | None = None,
        clock: Callable[[], float] = time.time,
        restarting: frozenset[str] = frozenset(),
        stop_requested: asyncio.Event | None = None,
    ) -> None:
        """``restarting``: sessions that the last (graceful) stop left within their restart time
        (from the restart record): they start with the Restart State bit (RFC 4724 §4.1)."""
        self._config = config
        self._settings_path = settings_path
        self._state_dir = state_dir
        self._manifests = loaded.manifests
        self._settings = settings
        self._ledger = ledger
        self._on_disk = ledger  # what the state directory holds: read at start, or last written
        self._ledger_dirty = False  # ``_ledger`` is not ``_on_disk``: a write failed
        self._ledger_error: str | None = None  # why the last write failed
        self._unwritten_since: float | None = None  # the first failed write since the last good one
        self._failed_writes = 0  # failures with the same error after the logged one, this episode
        self._withheld: frozenset[Grant] = frozenset()  # blocks not announced until written
        self._withheld_plan: tuple[Plan, frozenset[Grant], str, Plan] | None = None  # the last cut
        self._waiting: tuple[Manifests, Settings] | None = None  # a reload refused until written
        self.ledger_retry = LEDGER_RETRY
        self._retry: asyncio.Task[None] | None = None
        self._ledger_text = LedgerText()  # the ledger file's text, entry by entry, for the next write
        self._speaker = speaker
        self._addresses = addresses
        self._clock = clock
        self._lock = asyncio.Lock()
        self._maintenance = maintenance or Maintenance()
        self._running: dict[str, Session] = {}  # as the speaker runs them (their config included)
        self._routes_pending: set[str] = set()  # started before the first plan: routes not set yet
        self._planner = Planner()
        self._plan = Plan(nodes=(), sessions=(), routes=(), problems=(), ledger=ledger)  # none yet
        self._reported: tuple[Problem, ...] = ()  # node problems already logged
        self._planned_at = clock()
        self.generation = 0
        self._restarting = restarting
        self._started = False
        self._taking_over = False  # sessions starting now do so because a floating IP arrived
        self.stop_requested = stop_requested if stop_requested is not None else asyncio.Event()
        self.withdraw_on_stop = False
        # for the metrics (``metrics_text``): maintained where things happen, read by a scrape
        self._probe = LoopLagProbe()
        self.reloads = 0
        self.reloads_rejected = 0
        self.last_reload_successful = True
        self._usage = PoolUsageCounter()
        self._pools: tuple[PoolUsage, ...] = ()
        self._pools_of: tuple[object, Ledger] | None = None  # the manifests and ledger they count

    # ------------------------------------------------------------------ reading
    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def loop_lag(self) -> LoopLag:
        """How late the event loop runs timers (``bgpd.daemon.loop_lag``)."""
        return self._probe.lag

    def floating_ips(self) -> tuple[str, ...]:
        return self._manifests.floating_ips

    def snapshot(self) -> Snapshot:
        summaries = {n: s for n, s in self._speaker.summaries().items() if n in self._running}
        lag = None
        if self._unwritten_since is not None:
            waiting = self._waiting is not None
            lag = LedgerLag(self._unwritten_since, self._ledger_error or "", len(self._withheld), waiting)
        return Snapshot(self._plan, dict(self._running), summaries, self._planned_at, lag)

    def session_status(self, name: str) -> SessionStatus | None:
        return self._speaker.state(name) if name in self._running else None

    def received(self, name: str, within: Within | None = None) -> Iterator[ReceivedRoute | None]:
        return self._speaker.received(name, within) if name in self._running else iter(())

    async def metrics_text(self, fmt: Format) -> str:
        """The exposition text: values read as they are, formatted in chunks that give the loop
        back between them (``bgpd.daemon.metrics``)."""
        held = {str(a.address) for a in self._addresses.held()}
        reading = DaemonReading(
            reloads=self.reloads,
            reloads_rejected=self.reloads_rejected,
            last_reload_successful=self.last_reload_successful,
            loop_lag=self.loop_lag.last,
            loop_lag_max=self.loop_lag.worst,
            pools=self._pools,
            floating_ips=[(ip, ip in held) for ip in self._manifests.floating_ips],
            ledger_written=self._unwritten_since is None,
            withheld_pod_cidrs=len(self._withheld),
            sessions=[r for r in self._speaker.readings() if r.name in self._running],
            planned=dict(self._running),
        )
        parts: list[str] = []
        for chunk in render(reading, fmt):
            parts.append(chunk)
            await asyncio.sleep(0)
        return "".join(parts)

    def status_line(self) -> str:
        summaries = self._speaker.summaries()
        established = sum(1 for n, s in summaries.items() if n in self._running and s.established)
        return systemd.status_line(len(self._plan.sessions), established, len(self._plan.routes))

    # ------------------------------------------------------------------ changing
    async def start(self) -> None:
        """Start the sessions at once, then plan: an OPEN needs no routes, and the first plan of
        a large cluster takes a while (the sessions send nothing, not even End-of-RIB, until their
        routes are set: ``Speaker.add_session``)."""
        self._probe.start()
        async with self._lock:
            held = self._addresses.held()
            for session in planned_sessions(self._manifests, self._settings, held, self._maintenance):
                restarting = self._starts_restarting(session.name)
                if session.local and await self._start(session, routes_known=False, restarting=restarting):
                    self._routes_pending.add(session.name)
            changes = await self._apply()
            self._started = True
            _log.info(
                "started",
                sessions=len(self._plan.sessions),
                running=sorted(self._running),
                routes=len(self._plan.routes),
                changes=len(changes),
            )

    async def addresses_changed(self) -> None:
        async with self._lock:
            self._taking_over = True
            try:
                await self._apply()
            finally:
                self._taking_over = False

    async def reload(self, reason: str, force: bool = False) -> str:
        """Re-read the cluster and settings files; ``ReloadRejectedError`` keeps the old plan.

        ``force`` applies a file that removes more nodes or peers at once than ``removals.maxShare``."""
        systemd.notify_reloading()
        try:
            async with self._lock:
                return await self._reload(reason, force)
        finally:
            systemd.notify_ready()
            systemd.notify_status(self.status_line())

    async def _reload(self, reason: str, force: bool) -> str:
        self._waiting = None  # the newest reload decides: an older refused one is not retried
        errors: list[str] = []
        loaded: Loaded | None = None
        settings = self._settings
        try:  # in a thread: a file read from scratch (a first read, a syntax error) takes a while
            loaded = await asyncio.to_thread(self._config.load)
        except ConfigRejectedError as err:
            errors += err.errors
        try:
            settings = read_settings(self._settings_path)
        except ConfigRejectedError as err:
            errors += err.errors
        if errors or loaded is None:
            for error in errors:
                _log.error("reload_error", error=error)
            _log.error("reload_rejected", reason=reason, errors=len(errors), kept_generation=self.generation)
            self.reloads_rejected += 1
            self.last_reload_successful = False
            raise ReloadRejectedError(errors)
        for field, key in (("local_addresses", "localAddresses"), ("metrics", "metrics")):
            if getattr(settings, field) != getattr(self._settings, field):
                _log.warning("reload_ignored_setting", setting=key, note="takes effect on restart")
                settings = settings.model_copy(update={field: getattr(self._settings, field)})
        allocation.guard_reload(self._manifests, loaded.manifests, settings, force=force, reason=reason)
        try:
            return await self._apply_config(loaded.manifests, settings, reason)
        except LedgerUnwrittenError as err:
            _log.error("reload_rejected", reason=reason, errors=1, kept_generation=self.generation)
            self.reloads_rejected += 1
            self.last_reload_successful = False
            raise ReloadRejectedError([str(err)]) from None

    async def _apply_config(self, manifests: Manifests, settings: Settings, reason: str) -> str:
        """Run the plan of ``manifests`` and ``settings`` in place of the running one. Or, when it
        gives pod CIDRs the ledger on disk lacks and the ledger cannot be written, run nothing of
        it (``LedgerUnwrittenError``): the running plan stays as it was, and this one waits for
        the ledger, tried again every ``ledger_retry`` seconds (``_retry_ledger``)."""
        old_manifests, old_settings = self._manifests, self._settings
        self._manifests, self._settings = manifests, settings
        self.generation += 1
        structlog.contextvars.bind_contextvars(generation=self.generation)
        try:
            changes = await self._apply(refuse_unrecorded=True)
        except LedgerUnwrittenError:
            self._manifests, self._settings = old_manifests, old_settings
            self.generation -= 1
            structlog.contextvars.bind_contextvars(generation=self.generation)
            self._waiting = (manifests, settings)
            self._keep_retrying()
            raise
        self._waiting = None
        self.reloads += 1
        self.last_reload_successful = True
        summary = _summary(changes)
        old_nodes = set(map(_NAME, old_manifests.nodes))  # C speed: 10k names at every reload
        new_nodes = set(map(_NAME, manifests.nodes))
        _log.info(
            "reload_applied",
            reason=reason,
            nodes_added=sorted(new_nodes - old_nodes),
            nodes_removed=sorted(old_nodes - new_nodes),
            changes=summary,
        )
        held = ""
        if self._withheld:
            count = len(self._withheld)
            held = (
                f"; not announced until the ledger is written in {self._state_dir} "
                f"({self._ledger_error}): {count} pod CIDR{'s' if count != 1 else ''}"
            )
        return f"reloaded (generation {self.generation}): {summary}{held}"

    async def release_node(self, name: str) -> str:
        """End the reservation of ``name``, a node missing from the file: its blocks become free."""
        async with self._lock:
            reservation = self._ledger.reservation(name)
            if reservation is None:
                try:
                    self._ledger.release(name)  # raises, saying why there is nothing to release
                except LedgerError as err:
                    raise ControlError(ErrorCode.NOT_FOUND, str(err)) from None
            assert reservation is not None
            released = self._ledger.release(name)
            if not await self._commit_ledger(released):
                raise ControlError(
                    ErrorCode.FAILED, f"cannot write the ledger in {self._state_dir}: not released"
                )
            self._ledger, self._ledger_dirty = released, False
            blocks = [b for b in (reservation.allocation.ipv4, reservation.allocation.ipv6) if b is not None]
            _log.info("reservation_released", node=name, pod_cidrs=blocks, by="bgpctl release node")
            await self._apply()
            return (
                f"node {name}: reservation of {' and '.join(blocks)} released; another node may now get them"
            )

    async def reset_session(self, name: str, soft: bool, hard: bool = False) -> str:
        """Soft: refresh both ways without closing. Otherwise close with Cease 6/4 and start again:
        graceful by default (a graceful restart peer keeps our routes through the reset, RFC 8538
        §5 leaves Administrative Reset to the operator), withdrawing with ``hard`` (Hard Reset)."""
        async with self._lock:
            running = self._running.get(name)
            if running is None:
                raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r} runs on this host")
            if running.disabled is not None:
                raise ControlError(
                    ErrorCode.FAILED,
                    f"bgpsession {name} is disabled; 'bgpctl enable bgpsession {name}' brings it back",
                )
            if soft:
                return self._soft_reset(name, running.peer_ip)
            await self._speaker.remove_session(
                name, CeaseSub.ADMINISTRATIVE_RESET, "reset by bgpctl", graceful=not hard
            )
            self._running.pop(name)
            await self._start(running)
            _log.info("session_reset", session=name, peer=running.peer_ip, hard=hard)
            how = "hard reset: routes withdrawn" if hard else "reset (graceful restart: routes kept)"
            return f"bgpsession {name} {how}"

    def request_stop(self, withdraw: bool) -> str:
        """``bgpctl stop``: end the process as SIGTERM does; ``withdraw``: every session withdraws
        our routes at once (Hard Reset) and no restart is recorded."""
        self.withdraw_on_stop = self.withdraw_on_stop or withdraw
        self.stop_requested.set()
        if withdraw:
            return "bgpd stopping: every session withdraws its routes (Hard Reset)"
        return "bgpd stopping: graceful restart peers keep our routes for the restart time"

    def _soft_reset(self, name: str, peer: str) -> str:
        """Refresh routes both ways without closing the session (see ``Speaker.refresh_session``)."""
        try:
            done = self._speaker.refresh_session(name)
        except SessionNotEstablishedError as err:
            raise ControlError(ErrorCode.FAILED, str(err)) from None
        resent = ", ".join(str(f) for f in done.resent)
        if done.requested:
            asked = f"ROUTE-REFRESH sent for {', '.join(str(f) for f in done.requested)}"
        else:
            asked = "the peer did not offer route refresh (RFC 2918), so its routes were not requested"
        _log.info(
            "session_soft_reset", session=name, peer=peer, resent=resent, route_refresh=bool(done.requested)
        )
        return f"bgpsession {name} soft-reset: routes re-sent for {resent}; {asked}"

    # ------------------------------------------------------------------ maintenance
    async def disable_session(self, name: str, message: str) -> str:
        """Hold ``name`` down: Cease 6/2 with ``message`` (RFC 9003) now, and never started again
        — reloads and restarts included — until ``enable_session``. Persisted before it acts."""
        async with self._lock:
            self._known(name)
            if self._maintenance.shutdown_message(name) is not None:
                return f"bgpsession {name} is disabled already (bgpctl enable bgpsession {name} undoes it)"
            await self._maintain(lambda m: m.disable(name, message))
            _log.info("session_disabled", session=name, message=message)
            if name not in self._running:
                return (
                    f"bgpsession {name} disabled; it does not run on this host now, "
                    "and stays down if its floating IP comes here"
                )
            return f'bgpsession {name} disabled: Cease/Administrative Shutdown sent with "{message}"'

    async def enable_session(self, name: str) -> str:
        async with self._lock:
            self._known(name)
            if self._maintenance.shutdown_message(name) is None:
                return f"bgpsession {name} is not disabled"
            await self._maintain(lambda m: m.enable(name))
            _log.info("session_enabled", session=name)
            here = "starting" if name in self._running else "it does not run on this host now"
            return f"bgpsession {name} enabled: {here}"

    async def set_drained(self, name: str | None, drained: bool) -> str:
        """Tag the routes of ``name`` (None: every session, now and later) with GRACEFUL_SHUTDOWN
        (RFC 8326), or (``drained`` false) announce them without it again."""
        async with self._lock:
            if name is not None:
                self._known(name)
            changes = await self._maintain(lambda m: m.drain(name) if drained else m.undrain(name))
            _log.info("drained" if drained else "undrained", session=name or "all")
            what = f"bgpsession {name}" if name is not None else "every session"
            if drained:
                return f"{what} drained: routes re-announced with GRACEFUL_SHUTDOWN (65535:0) {_on(changes)}"
            return f"{what} undrained: routes re-announced without GRACEFUL_SHUTDOWN {_on(changes)}"

    def _known(self, name: str) -> None:
        """``name`` is a session of the plan (run here or not), or one the maintenance state still
        names (its peer left the cluster file: it can still be enabled or undrained)."""
        maintenance = self._maintenance
        if name in self._plan.by_name() or name in maintenance.disabled or name in maintenance.drained:
            return
        raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r}")

    async def _maintain(self, change: Callable[[Maintenance], Maintenance]) -> list[Change]:
        """Persist the changed maintenance state (atomically, before acting on it), then apply the
        plan it gives."""
        try:
            maintenance = change(self._maintenance)
        except MaintenanceError as err:
            raise ControlError(ErrorCode.FAILED, str(err)) from None
        if maintenance == self._maintenance:
            return []
        try:
            save_maintenance(self._state_dir, maintenance)
        except OSError as err:
            raise ControlError(
                ErrorCode.FAILED,
                f"nothing changed: cannot write the maintenance state in {self._state_dir}: "
                f"{err.strerror or err}",
            ) from None
        self._maintenance = maintenance
        return await self._apply()

    async def stop(self, *, withdraw: bool = False) -> None:
        """End every session (bounded), then flush the ledger. By default a restart: the restart
        record is written first, then each session ends so that graceful restart peers keep our
        routes (Cease 6/4 "bgpd restarting", no Hard Reset; a bare close without the N bit).
        ``withdraw``: Cease 6/2 "bgpd stopping" as Hard Reset, and no restart record."""
        self._probe.stop()
        async with self._lock:
            if self._retry is not None:  # waiting to sleep or to lock: nothing half done
                self._retry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._retry
            if withdraw:
                self._forget_restart()
            else:
                self._record_restart()
            text, graceful = (STOP_TEXT, False) if withdraw else (RESTART_TEXT, True)
            try:
                async with asyncio.timeout(STOP_BUDGET):
                    await self._speaker.close(text, graceful=graceful)
            except TimeoutError:
                _log.warning("stop_timeout", budget_seconds=STOP_BUDGET)
            self._running.clear()
            if self._ledger_dirty:  # an earlier write failed: last chance to keep the blocks stable
                await self._commit_ledger(self._ledger)

    # ------------------------------------------------------------------ internals
    def _record_restart(self) -> None:
        """The restart record: every running session whose peer keeps our routes now (Established,
        graceful restart negotiated), and the restart time it was given. A failed write costs only
        the Restart State bit next time."""
        helped = set()
        for name in self._running:
            status = self._speaker.state(name)
            gr = status.graceful_restart
            if status.established and gr is not None and gr.peer_restart_time is not None:
                helped.add(name)
        sessions = {name: s.config.restart_time for name, s in self._running.items() if name in helped}
        try:
            save_restart_record(self._state_dir, RestartRecord(self._clock(), sessions))
        except OSError as err:
            _log.error(
                "restart_record_write_failed", state_dir=str(self._state_dir), error=err.strerror or str(err)
            )
            return
        _log.info("restart_recorded", sessions=len(sessions), state_dir=str(self._state_dir))

    def _forget_restart(self) -> None:
        try:
            clear_restart_record(self._state_dir)
        except OSError as err:
            _log.error(
                "restart_record_remove_failed", state_dir=str(self._state_dir), error=err.strerror or str(err)
            )

    async def _apply(self, *, refuse_unrecorded: bool = False) -> list[Change]:
        """Plan, record the plan's ledger, and run the plan. A pod CIDR is announced only once the
        ledger on disk gives it to that node (rule 1: else a restart could give it to another):
        when the write fails, the plan runs without those routes (``bgpd.plan.durable``), or with
        ``refuse_unrecorded`` (a reload) not at all when that would hold back blocks the running
        plan does not already hold back (``LedgerUnwrittenError``)."""
        now = self._clock()
        # The planner works in a thread: a plan from scratch of a large cluster takes long enough
        # to hold the event loop past its budget (a re-plan of a few nodes is quick either way).
        plan = await asyncio.to_thread(
            self._planner.plan,
            self._manifests,
            self._settings,
            self._ledger,
            self._addresses.held(),
            self._maintenance,
            now=int(now),
        )
        old_ledger = self._ledger
        try:
            held_back = await self._record(plan.ledger, refuse=refuse_unrecorded)
        except LedgerUnwrittenError:
            # It remembers the refused plan as if it ran. Its ledger check would plan from scratch
            # next anyway (the refused ledger is not ours); a new planner does not rely on that.
            self._planner = Planner()
            raise
        if held_back and held_back != self._withheld:
            nodes = sorted({node for node, _ in held_back})
            _log.error("routes_withheld", pod_cidrs=len(held_back), nodes=nodes[:20], more=len(nodes[20:]))
        elif self._withheld and not held_back:
            _log.info("withheld_routes_announced", pod_cidrs=len(self._withheld))
        if held_back:
            plan = await self._withhold(plan, held_back)
        self._withheld = held_back
        if plan != self._plan:
            self._planned_at = now
        allocation.report(self._reported, plan, old_ledger, self._settings.allocation.reservation_time)
        self._reported = plan.problems
        self._plan = plan
        if (
            self._pools_of is None
            or self._pools_of[0] is not self._manifests
            or self._pools_of[1] is not self._ledger
        ):
            self._pools = await asyncio.to_thread(self._usage.usage, self._manifests, self._ledger)
            self._pools_of = (self._manifests, self._ledger)
        changes = diff(self._running, plan, self._planner.deltas)
        for change in changes:
            await self._execute(change)
        for name, session in plan.local_sessions().items():  # keep every explanation current
            running = self._running.get(name)
            if running is not None and not speaker_changes(running.config, session.config):
                self._running[name] = session
        for name in sorted(self._routes_pending):  # the first plan: every early session's table
            self._routes_pending.discard(name)
            if name in self._running:
                self._speaker.set_routes(name, [a.route for a in self._running[name].announced])
                await asyncio.sleep(0)  # a table at a time (10k routes: ~10 ms): the loop's budget
        self._keep_retrying()
        return changes

    async def _record(self, ledger: Ledger, *, refuse: bool) -> frozenset[Grant]:
        """Make ``ledger`` the daemon's, written first if the disk does not have it yet. Returns the
        blocks it gives that the ledger on disk lacks when the write failed: their routes wait.
        ``refuse``: keep the old ledger and raise ``LedgerUnwrittenError`` instead when some of
        them are not held back already. A ledger that only removes or reserves entries is taken
        even unwritten: the file on disk is then only more cautious."""
        if ledger == self._ledger and not self._ledger_dirty:
            return frozenset()
        if await self._commit_ledger(ledger):
            self._ledger, self._ledger_dirty = ledger, False
            return frozenset()
        pinned = self._manifests.node_cidrs or ()
        unwritten = await asyncio.to_thread(unrecorded, self._on_disk, ledger, pinned)
        if refuse and not unwritten <= self._withheld:
            raise LedgerUnwrittenError(self._unwritten_text(unwritten - self._withheld))
        self._ledger, self._ledger_dirty = ledger, True
        return unwritten

    async def _withhold(self, plan: Plan, grants: frozenset[Grant]) -> Plan:
        """``plan`` announcing none of ``grants`` (``bgpd.plan.durable.withheld``); the same value
        as last time when nothing changed, so a retry that fails again compares no tables."""
        why = (
            f"the ledger on disk does not give it to this node yet (cannot write it in "
            f"{self._state_dir}: {self._ledger_error}); announced once written, "
            f"tried again every {self.ledger_retry:g} s"
        )
        last = self._withheld_plan
        if last is not None and last[0] is plan and last[1] == grants and last[2] == why:
            return last[3]
        cut = await asyncio.to_thread(withheld, plan, grants, why)
        self._withheld_plan = (plan, grants, why, cut)
        return cut

    def _unwritten_text(self, grants: frozenset[Grant]) -> str:
        listed = [f"{block} to {node}" for node, block in sorted(grants)]
        more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
        return (
            f"cannot write the pod-CIDR ledger in {self._state_dir} ({self._ledger_error}), and the new "
            f"configuration gives {len(listed)} pod CIDR{'s' if len(listed) != 1 else ''} the ledger on "
            f"disk does not record ({', '.join(listed[:3])}{more}); a block is announced only once it "
            f"is recorded. The running configuration stays; the new one is applied as soon as the "
            f"ledger is written (tried again every {self.ledger_retry:g} s)"
        )

    def _keep_retrying(self) -> None:
        """Start ``_retry_ledger`` if the ledger on disk lags and it is not running."""
        if (self._ledger_dirty or self._waiting is not None) and (self._retry is None or self._retry.done()):
            self._retry = asyncio.create_task(self._retry_ledger())

    async def _retry_ledger(self) -> None:
        """While a ledger write failed: write it again every ``ledger_retry`` seconds, and run what
        waited for it (a refused reload, held-back routes), so a freed disk heals without an
        operator. Ends once written; ``stop`` cancels it."""
        while self._ledger_dirty or self._waiting is not None:
            await asyncio.sleep(self.ledger_retry)
            async with self._lock:
                if self._waiting is not None:
                    with contextlib.suppress(LedgerUnwrittenError):
                        await self._apply_config(*self._waiting, reason="ledger written")
                elif self._ledger_dirty:
                    await self._apply()

    async def _commit_ledger(self, ledger: Ledger) -> bool:
        """Write ``ledger`` (before any route of its blocks is sent), in a thread: fsync waits."""
        try:
            await asyncio.to_thread(save_ledger, self._state_dir, ledger, self._ledger_text)
        except OSError as err:
            error = err.strerror or str(err)
            # Logged once per episode and error text, then counted (the retry tries every
            # ``ledger_retry`` seconds; status shows the episode meanwhile).
            if self._unwritten_since is None or error != self._ledger_error:
                _log.error("ledger_write_failed", state_dir=str(self._state_dir), error=error)
                self._unwritten_since = self._unwritten_since or self._clock()
            else:
                self._failed_writes += 1
            self._ledger_error = error
            return False
        self._on_disk = ledger
        self._ledger_error = self._unwritten_since = None
        _log.info(
            "ledger_committed",
            state_dir=str(self._state_dir),
            nodes=len(ledger.entries),
            reserved=len(ledger.reserved),
            **({"repeated_failures": self._failed_writes} if self._failed_writes else {}),
        )
        self._failed_writes = 0
        return True

    async def _start(self, session: Session, *, routes_known: bool = True, restarting: bool = False) -> bool:
        """Add ``session`` to the speaker: started (``restarting``: with the Restart State bit), or
        held down when the operator disabled it; with its routes, or (before the first plan) with
        none known yet. False when its socket could not be set up (logged)."""
        routes = [a.route for a in session.announced] if routes_known else None
        try:
            await self._speaker.add_session(
                session.config, routes, shutdown=session.disabled, restarting=restarting
            )
        except (OSError, ValueError) as err:
            _log.error(
                "session_start_failed",
                session=session.name,
                peer=session.peer_ip,
                error=getattr(err, "strerror", None) or str(err),
            )
            return False
        self._running[session.name] = session
        details = {"routes": len(session.announced), "skipped": len(session.skipped)} if routes_known else {}
        _log.info(
            "session_started",
            session=session.name,
            peer=session.peer_ip,
            local_ip=session.local_ip,
            **details,
            restarting=restarting,
            disabled=session.disabled is not None,
        )
        return True

    def _starts_restarting(self, name: str) -> bool:
        """RFC 4724 §4.1 Restart State bit for a new session: at the first start, the sessions the
        restart record names; later, every session that starts because its floating IP came to
        this host (the same BGP identity, moved from another gateway: a takeover is its restart)."""
        return name in self._restarting if not self._started else self._taking_over

    async def _execute(self, change: Change) -> None:
        if isinstance(change, Start):
            await self._start(change.session, restarting=self._starts_restarting(change.session.name))
        elif isinstance(change, Stop):
            name = change.session.name
            self._running.pop(name)
            text = change.reason.value
            if change.reason is StopReason.ADDRESS_LEFT:
                text = f"floating IP {change.session.local_ip} left this host"
            subcode, graceful = STOP_KINDS[change.reason]
            await self._speaker.remove_session(name, subcode, text, graceful=graceful)
            _log.info(
                "session_stopped", session=name, peer=change.session.peer_ip, reason=text, graceful=graceful
            )
        elif isinstance(change, Reset):
            name = change.session.name
            self._running.pop(name)
            await self._speaker.remove_session(  # RFC 8538 §5: graceful; the peer keeps our routes
                name, CeaseSub.OTHER_CONFIGURATION_CHANGE, "configuration changed", graceful=True
            )
            _log.info(
                "session_reset", session=name, peer=change.session.peer_ip, changed=list(change.changed)
            )
            await self._start(change.session)
        elif isinstance(change, Reconfigure):
            await self._reconfigure(change)
        elif isinstance(change, Disable):
            await self._speaker.shutdown_session(change.session.name, change.session.disabled or "")
            self._running[change.session.name] = change.session
        elif isinstance(change, Enable):
            self._speaker.start_session(change.session.name)
            self._running[change.session.name] = change.session
        elif change.session.name not in self._routes_pending:  # those get their whole table next
            self._speaker.change_routes(change.session.name, change.announce, change.withdraw)
            _log.info(
                "session_routes_updated",
                session=change.session.name,
                peer=change.session.peer_ip,
                announced=change.announced,
                withdrawn=change.withdrawn,
            )

    async def _reconfigure(self, change: Reconfigure) -> None:
        name = change.session.name
        try:
            await self._speaker.reconfigure_session(name, change.session.config)
        except OSError as err:  # the new port's listener: the old config keeps running, retried next time
            _log.error(
                "session_reconfigure_failed",
                session=name,
                peer=change.session.peer_ip,
                error=err.strerror or str(err),
            )
            self._running[name] = replace(change.session, config=self._running[name].config)
            return
        self._running[name] = change.session
        _log.info(
            "session_reconfigured", session=name, peer=change.session.peer_ip, changed=list(change.changed)
        )


def _on(changes: list[Change]) -> str:
    """On how many sessions ``changes`` re-announce routes, in words."""
    count = sum(isinstance(c, UpdateRoutes) for c in changes)
    return f"on {count} session{'s' if count != 1 else ''} run here"


def _summary(changes: list[Change]) -> str:
    counts = {
        "started": sum(isinstance(c, Start) for c in changes),
        "stopped": sum(isinstance(c, Stop) for c in changes),
        "reset": sum(isinstance(c, Reset) for c in changes),
        "reconfigured": sum(isinstance(c, Reconfigure) for c in changes),
        "updated": sum(isinstance(c, UpdateRoutes) for c in changes),
    }
    if not any(counts.values()):
        return "no change"
    return ", ".join(f"{n} session{'s' if n != 1 else ''} {what}" for what, n in counts.items() if n)


# ---------------------------------------------------------------------- the process


async def _pump_addresses(
    daemon: Daemon, source: AddressSource, floating: Callable[[], tuple[str, ...]]
) -> None:
    stream = source.changes()
    if stream is None:
        return
    async for event in stream:
        address = str(event.address.address)
        if address in floating():
            event_name = "floating_ip_added" if event.change is AddressChange.ADDED else "floating_ip_removed"
            _log.info(event_name, address=address, prefixlen=event.address.prefixlen)
        await daemon.addresses_changed()


async def _heartbeat(daemon: Daemon) -> None:
    watchdog = systemd.watchdog_settings()
    interval = min(STATUS_INTERVAL, watchdog.ping_interval) if watchdog is not None else STATUS_INTERVAL
    while True:
        systemd.notify_status(daemon.status_line())
        if watchdog is not None:
            systemd.notify_watchdog()
        await asyncio.sleep(interval)


async def _metrics_listener(settings: Settings, daemon: Daemon) -> MetricsListener | None:
    """The metrics listener when the settings enable it. One that cannot bind is logged and left
    out: metrics are not worth a session, so bgpd runs on without them."""
    if not settings.metrics.enabled:
        return None
    wanted = settings.metrics
    listener = MetricsListener(str(wanted.address), wanted.port, daemon.metrics_text)
    try:
        await listener.start()
    except OSError as err:
        _log.error(
            "metrics_listen_failed",
            address=str(wanted.address),
            port=wanted.port,
            error=err.strerror or str(err),
        )
        return None
    return listener


async def serve(
    options: RunOptions,
    config: ConfigFile,
    loaded: Loaded,
    settings: Settings,
    ledger: Ledger,
    *,
    maintenance: Maintenance | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``bgpctl stop``); returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    restarting = _restarting_sessions(options.state_dir)

    addresses: AddressSource
    if settings.local_addresses is not None:
        addresses = StaticAddresses(settings.local_addresses)
    else:
        addresses = WatchedAddresses()
    try:
        await addresses.start()
    except OSError as err:
        _log.error("address_watch_failed", error=err.strerror or str(err), hint="set localAddresses")
        return 1
    speaker = Speaker()
    daemon = Daemon(
        config,
        settings_path=options.settings,
        state_dir=options.state_dir,
        loaded=loaded,
        settings=settings,
        ledger=ledger,
        speaker=speaker,
        addresses=addresses,
        restarting=restarting,
        stop_requested=stop,
        maintenance=maintenance,
    )
    server = ControlServer(options.socket, commands(daemon))
    try:
        await server.start()
    except ControlSocketError as err:
        _log.error("control_socket_failed", error=str(err))
        await addresses.close()
        return 1
    metrics = await _metrics_listener(settings, daemon)
    tasks: list[asyncio.Task[None]] = []
    try:
        await daemon.start()
        systemd.notify_ready()
        tasks = [
            asyncio.create_task(_pump_addresses(daemon, addresses, daemon.floating_ips)),
            asyncio.create_task(_heartbeat(daemon)),
        ]
        while not stop.is_set():
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload_requested.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if reload_requested.is_set() and not stop.is_set():
                reload_requested.clear()
                with contextlib.suppress(ReloadRejectedError):
                    await daemon.reload("SIGHUP")
    finally:
        systemd.notify_stopping()
        _log.info("stopping")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await daemon.stop(withdraw=daemon.withdraw_on_stop)
        if metrics is not None:
            await metrics.close()
        await server.close()
        await addresses.close()
        _log.info("stopped")
    return 0


def _restarting_sessions(state_dir: Path) -> frozenset[str]:
    """The sessions a graceful stop left within their restart time (RFC 4724 §4.1), from the
    restart record, which is used once: it is removed here whatever it said."""
    try:
        record = load_restart_record(state_dir)
    except RestartRecordError as err:
        _log.warning(
            "restart_record_unusable", error=str(err), effect="starting without the Restart State bit"
        )
        record = None
    if record is None:
        return frozenset()
    now = time.time()
    restarting = record.restarting(now)
    try:
        clear_restart_record(state_dir)
    except OSError as err:
        _log.warning("restart_record_remove_failed", state_dir=str(state_dir), error=err.strerror or str(err))
    _log.info(
        "graceful_restart",
        stopped_seconds_ago=round(max(0.0, now - record.stopped_at), 1),
        restarting=sorted(restarting),
        too_late=sorted(set(record.sessions) - restarting),
    )
    return restarting
