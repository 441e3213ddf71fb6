"""A local Databento live gateway: the raw TCP protocol `databento.Live` speaks, on 127.0.0.1.

Per connection: the greeting (`lsg_version`, `cram` challenge), the CRAM auth line checked against
`key` (sha256 of `challenge|key`, then `-` and the key's last five characters), the subscription
lines until `start_session`, then a DBN metadata header and the script's records. A `Script` says
what one connection gets; with `drop_after`, the connection is reset (TCP RST, no goodbye) once the
test says the client has taken that many records (`caught_up`), so the client's reconnect policy
is exercised. Every auth line and subscription is recorded for the test to check.
"""
from __future__ import annotations

import hashlib
import socket
import struct
import threading
from dataclasses import dataclass, field

import databento_dbn as dbn

KEY = "db-" + "A" * 24 + "Bucket"[:5]   # the form Databento keys have: db- + 29 characters
CHALLENGE = "6f1d2c3b"
WAIT_S = 30.0                           # bound on every wait in the stand-in


@dataclass
class Script:
    """What the stand-in does on one connection: send `records` after metadata starting at
    `start`; with `drop_after`, reset the connection once `caught_up` is set (by the test's sink,
    when the client has taken `drop_after` records)."""

    records: list[bytes]
    start: int
    drop_after: int | None = None
    caught_up: threading.Event = field(default_factory=threading.Event)


class StandInGateway(threading.Thread):
    """Accepts one connection per script, in order, and records what each client asked for. The
    metadata header names `dataset`, `symbols` and `stype_in` (schema: mixed, as live sessions)."""

    def __init__(self, scripts: list[Script], *, key: str = KEY, dataset: str = "GLBX.MDP3",
                 symbols: tuple[str, ...] = ("NQ.OPT",), stype_in: dbn.SType = dbn.SType.PARENT) -> None:
        super().__init__(daemon=True)
        self.scripts = scripts
        self.key = key
        self.dataset = dataset
        self.symbols = list(symbols)
        self.stype_in = stype_in
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(WAIT_S)
        self.port = self.server.getsockname()[1]
        self.auth_lines: list[str] = []
        self.subscriptions: list[list[str]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            for script in self.scripts:
                conn, _ = self.server.accept()
                conn.settimeout(WAIT_S)
                self._serve(conn, script)
        except Exception as exc:  # reported by the test, never swallowed silently
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.server.close()

    def _serve(self, conn: socket.socket, script: Script) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"lsg_version=0.5.0\n" + f"cram={CHALLENGE}\n".encode())
        auth = reader.readline().decode()
        self.auth_lines.append(auth)
        fields = dict(part.split("=", 1) for part in auth.strip().split("|"))
        expected = hashlib.sha256(f"{CHALLENGE}|{self.key}".encode()).hexdigest() + "-" + self.key[-5:]
        if fields.get("auth") != expected:
            conn.sendall(b"success=0|error=Authentication failed.\n")
            conn.close()
            return
        conn.sendall(f"success=1|session_id={len(self.auth_lines)}\n".encode())
        subs: list[str] = []
        for _ in range(64):  # subscription lines, then start_session
            line = reader.readline().decode()
            if not line or line.startswith("start_session"):
                break
            subs.append(line.strip())
        self.subscriptions.append(subs)
        metadata = dbn.Metadata(dataset=self.dataset, start=script.start, stype_in=self.stype_in,
                                stype_out=dbn.SType.INSTRUMENT_ID, schema=None, symbols=self.symbols)
        conn.sendall(bytes(metadata) + b"".join(script.records))
        if script.drop_after is not None:
            script.caught_up.wait(WAIT_S)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not close
        conn.close()
