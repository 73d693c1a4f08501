"""Readings over MQTT: an embedded Mosquitto child process and a paho-mqtt subscriber.

Devices publish the same JSON payload as ``POST /sensors/{id}/readings`` to
``onemap/sensors/{id}/readings``. The server subscribes with QoS 1 and hands each
message to :meth:`PerceptionService.ingest`; a bad payload is logged and dropped
(MQTT has no reply channel). Device authentication on MQTT is the broker's: see
docs/perception.md for the password file generated from the device keys.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from gis.errors import CoreError
from gis.perception.errors import PerceptionError
from gis.perception.readings import parse_payload
from gis.perception.service import PerceptionService

log = logging.getLogger(__name__)

TOPIC = "onemap/sensors/+/readings"
#: Most messages written in one transaction.
BATCH = 500


class BrokerUnavailable(PerceptionError):
    """Mosquitto could not be started or reached."""


def _die_with_parent() -> None:
    """In the child before ``exec``: SIGTERM it when the process that started it dies.

    A server killed with SIGKILL runs no clean-up, and its broker went on listening (two
    orphaned brokers per test run, from the crash tests). Linux only (``prctl``).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


#: prctl(2) option: the signal a child gets when its parent thread dies.
_PR_SET_PDEATHSIG = 1
#: libc's prctl, looked up once here: between fork and exec only calls are safe, not a
#: library load.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedMosquitto:
    """A Mosquitto child process on a free loopback port with its own config file."""

    def __init__(self, port: int | None = None, password_file: Path | None = None) -> None:
        exe = shutil.which("mosquitto")
        if exe is None:
            raise BrokerUnavailable("mosquitto is not installed")
        self.port = port or _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="onemap-mqtt-")
        conf = Path(self._dir.name) / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 "log_dest stderr", "log_type error", "max_queued_messages 100000"]
        if os.geteuid() == 0:
            # Run as root, Mosquitto switches to the user "mosquitto", and the switch
            # clears the parent-death signal set below: keep the server's own user.
            lines.append("user root")
        if password_file is not None:
            lines += [f"password_file {password_file}", "allow_anonymous false"]
        else:
            # Loopback only: the server's own broker for the demo and the tests.
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self._dir.cleanup()
                raise BrokerUnavailable(f"mosquitto exited: {err.strip()[:200]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerUnavailable("mosquitto did not start listening") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        """The broker's URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the child process and remove its config."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()


def client_for(url: str, client_id: str = "") -> mqtt.Client:
    """A connected paho client (network loop running) for ``mqtt://[user:pw@]host:port``."""
    u = urlparse(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if u.username:
        c.username_pw_set(u.username, u.password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    try:
        c.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
    except OSError as exc:
        raise BrokerUnavailable(f"cannot reach the MQTT broker: {exc}") from None
    c.loop_start()
    return c


class MqttBridge:
    """Subscribes to the readings topic and ingests each message."""

    def __init__(self, service: PerceptionService, url: str,
                 broker: EmbeddedMosquitto | None = None) -> None:
        self.service = service
        self.url = url
        self.broker = broker
        self.received = 0
        self.rejected = 0
        self.connected = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="mqtt-ingest", daemon=True)
        self._worker.start()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"onemap-server-{_free_port()}")
        u = urlparse(url)
        if u.username:
            self.client.username_pw_set(u.username, u.password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        try:
            self.client.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
        except OSError as exc:
            raise BrokerUnavailable(f"cannot reach the MQTT broker: {exc}") from None
        self.client.loop_start()
        if not self.connected.wait(10):
            self.client.loop_stop()
            raise BrokerUnavailable("the MQTT broker did not accept the connection")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            # Subscribed again on every reconnect (the broker forgets clean sessions).
            client.subscribe(TOPIC, qos=1)
            self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # Checked here (the network thread), written by the worker: a bad message is
        # refused alone and never spoils the batch it would have joined.
        parts = msg.topic.split("/")
        try:
            sid = parts[2]
            self.service.state(sid)
            ts, values = parse_payload(json.loads(msg.payload))
        except (ValueError, UnicodeDecodeError, IndexError, CoreError) as exc:
            self.rejected += 1
            reason = exc.message if isinstance(exc, CoreError) else "payload is not JSON"
            log.warning("MQTT reading on %s refused: %s", msg.topic, reason)
            return
        self._queue.put((sid, ts, values))

    def _work(self) -> None:
        """Drain the queue: up to ``BATCH`` messages per transaction."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                self.received += self.service.ingest_many(batch)
            except CoreError as exc:
                self.rejected += len(batch)
                log.error("MQTT batch of %d messages not stored: %s", len(batch), exc.message)
            except Exception:  # keep the worker alive for the next batch
                self.rejected += len(batch)
                log.exception("MQTT batch failed")

    def status(self) -> dict[str, Any]:
        """For /health."""
        u = urlparse(self.url)  # without credentials
        return {"broker": "embedded" if self.broker else "external",
                "url": f"{u.scheme}://{u.hostname}:{u.port or 1883}",
                "connected": self.client.is_connected(), "received": self.received,
                "rejected": self.rejected}

    def stop(self) -> None:
        """Disconnect, and stop the embedded broker if this bridge started it."""
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(None)
        self._worker.join(timeout=10)
        if self.broker is not None:
            self.broker.stop()


def start_bridge(service: PerceptionService, url: str, embedded: bool) -> MqttBridge | None:
    """The bridge to ``url``, or to a freshly started local Mosquitto when ``url`` is
    empty and ``embedded``; None when neither is possible (logged)."""
    broker = None
    try:
        if not url:
            if not embedded:
                return None
            broker = EmbeddedMosquitto()
            url = broker.url
        return MqttBridge(service, url, broker)
    except BrokerUnavailable as exc:
        log.warning("MQTT ingest is off: %s", exc.message)
        if broker is not None:
            broker.stop()
        return None
