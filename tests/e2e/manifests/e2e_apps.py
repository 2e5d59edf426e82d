"""The two small servers the kind end-to-end suite runs beside the gateway (standard library only,
so they run from the botgateway image itself and nothing else is pulled):

``backend``   the target of the ``forward`` handler. It records every request it receives and
              answers 200, except that it can be told to hold the first delivery of an update
              (``POST /hold``) so a job stays running while the test kills the worker pod, or
              be made slow (``POST /delay``) so the queue grows.
``telegram``  a fake Bot API for the operator: ``setWebhook``, ``getWebhookInfo`` and
              ``deleteWebhook``, every call recorded. The suite reads the secret token the
              operator registered and posts updates with it, as Telegram would.

Both expose their records as JSON for the test, which reads them through the API server's
service proxy (``kubectl get --raw``), and with ``--state DIR`` keep them across restarts::

    python e2e_apps.py backend --port 8000 --state /var/lib/e2e
    python e2e_apps.py telegram --port 8081 --state /var/lib/e2e
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# A held delivery is answered when released, or after this long at the latest.
HOLD_LIMIT_SECONDS = 600.0
_BOT_METHOD = re.compile(r"^/bot(?P<token>[0-9]+:[A-Za-z0-9_-]+)/(?P<method>[A-Za-z]+)$")


class JsonHandler(BaseHTTPRequestHandler):
    """Shared plumbing: JSON bodies in and out, one log line per request on stdout."""

    server_version = "botgateway-e2e"
    protocol_version = "HTTP/1.1"

    def read_body(self) -> bytes:
        """The whole body, sent with Content-Length or chunked (as the API server's service
        proxy forwards `kubectl create --raw`): a body left unread would be taken for the next
        request on this kept-alive connection."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers, then the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self) -> Any:
        raw = self.read_body()
        if not raw:
            return {}
        return json.loads(raw)

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


class Journal:
    """What a server must remember across restarts (a kind node restart restarts every pod),
    as JSON lines appended to a file on the pod's volume and replayed at start. Without a file,
    memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def append(self, event: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(event) + "\n")

    def replay(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        # A line cut off by the restart itself is dropped.
        return [json.loads(line) for line in lines if line.endswith("}")]


# -- backend --------------------------------------------------------------------------------


class BackendState:
    def __init__(self, journal: Journal) -> None:
        self.lock = threading.Lock()
        self.journal = journal
        self.arrivals: list[dict[str, Any]] = []
        self.holds: set[tuple[str, int]] = set()
        self.release = threading.Event()
        # Seconds every delivery takes before its answer: a slow backend grows the queue.
        self.delay = 0.0
        for event in journal.replay():
            if "arrival" in event:
                self.arrivals.append(event["arrival"])
            else:
                self.arrivals[event["answered"]]["answered"] = True

    def arrive(self, arrival: dict[str, Any]) -> int:
        """Record an arrival (under the lock); its index, to mark it answered."""
        self.arrivals.append(arrival)
        self.journal.append({"arrival": arrival})
        return len(self.arrivals) - 1

    def answered(self, index: int) -> None:
        self.arrivals[index]["answered"] = True
        self.journal.append({"answered": index})


class BackendHandler(JsonHandler):
    state: BackendState

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self.send_json(200, {"ok": True})
        elif path == "/received":
            with self.state.lock:
                self.send_json(200, {"arrivals": list(self.state.arrivals)})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/hold":
            body = self.read_json()
            with self.state.lock:
                self.state.holds.add((str(body["bot"]), int(body["update_id"])))
                self.state.release.clear()
                holding = [list(h) for h in sorted(self.state.holds)]
            self.send_json(200, {"holding": holding})
        elif path == "/release":
            self.read_body()
            self.state.release.set()
            self.send_json(200, {"released": True})
        elif path == "/delay":
            body = self.read_json()
            with self.state.lock:
                self.state.delay = float(body["seconds"])
            self.send_json(200, {"delay": self.state.delay})
        elif path == "/updates":
            self.receive()
        else:
            self.send_json(404, {"error": "not found"})

    def receive(self) -> None:
        bot = self.headers.get("X-Botgateway-Bot", "")
        update_id = int(self.headers.get("X-Botgateway-Update-Id") or -1)
        update = self.read_json()
        key = (bot, update_id)
        with self.state.lock:
            held = key in self.state.holds
            self.state.holds.discard(key)  # only the first delivery is held
            index = self.state.arrive(
                {
                    "bot": bot,
                    "update_id": update_id,
                    "update": update,
                    "held": held,
                    "answered": False,
                    "at": time.time(),
                }
            )
        if held:
            # The worker that sent this is meant to die while we wait: the answer usually has
            # nowhere to go, which is the point.
            self.state.release.wait(HOLD_LIMIT_SECONDS)
        elif self.state.delay:
            time.sleep(self.state.delay)
        try:
            self.send_json(200, {"ok": True})
        except OSError:
            return
        with self.state.lock:
            self.state.answered(index)


# -- fake Bot API ---------------------------------------------------------------------------


class TelegramState:
    def __init__(self, journal: Journal) -> None:
        self.lock = threading.Lock()
        self.journal = journal
        self.calls: list[dict[str, Any]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}
        for event in journal.replay():
            self.apply(event["call"])

    def call(self, token: str, method: str, params: dict[str, Any]) -> tuple[bool, Any]:
        """A Bot API call (under the lock): (known method, result); recorded when known."""
        call = {"token": token, "method": method, "params": params, "at": time.time()}
        known, result = self.apply(call)
        if known:
            self.journal.append({"call": call})
        return known, result

    def apply(self, call: dict[str, Any]) -> tuple[bool, Any]:
        token, method, params = call["token"], call["method"], call["params"]
        if method not in ("setWebhook", "deleteWebhook", "getWebhookInfo"):
            return False, None
        self.calls.append(call)
        hook = self.webhooks.setdefault(token, _empty_webhook())
        if method == "setWebhook":
            allowed = params.get("allowed_updates")
            hook.update(
                url=str(params.get("url", "")),
                secret_token=params.get("secret_token"),
                allowed_updates=list(allowed) if allowed else None,
                max_connections=int(params.get("max_connections", 40)),
            )
            return True, True
        if method == "deleteWebhook":
            self.webhooks[token] = _empty_webhook()
            return True, True
        info: dict[str, Any] = {
            "url": hook["url"],
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if hook["url"]:
            info["max_connections"] = hook["max_connections"]
            if hook["allowed_updates"]:
                info["allowed_updates"] = hook["allowed_updates"]
        return True, info


def _empty_webhook() -> dict[str, Any]:
    return {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": 40}


class TelegramHandler(JsonHandler):
    state: TelegramState

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self.send_json(200, {"ok": True})
        elif path == "/e2e/calls":
            with self.state.lock:
                self.send_json(200, {"calls": list(self.state.calls)})
        elif path == "/e2e/webhooks":
            with self.state.lock:
                self.send_json(200, {"webhooks": dict(self.state.webhooks)})
        else:
            self.bot_api()

    def do_POST(self) -> None:
        self.bot_api()

    def bot_api(self) -> None:
        parts = urlsplit(self.path)
        match = _BOT_METHOD.match(parts.path)
        if match is None:
            self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = match["token"], match["method"]
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        if self.command == "POST":
            body = self.read_json()
            if isinstance(body, dict):
                params.update(body)
        with self.state.lock:
            known, result = self.state.call(token, method, params)
        if not known:
            self.send_json(
                404, {"ok": False, "error_code": 404, "description": "Not Found: method"}
            )
            return
        self.send_json(200, {"ok": True, "result": result})


# -- entry point ----------------------------------------------------------------------------


def make_server(
    role: str, host: str, port: int, state_dir: Path | None = None
) -> ThreadingHTTPServer:
    journal = Journal(state_dir / f"{role}.jsonl" if state_dir else None)
    if role == "backend":
        state: Any = BackendState(journal)
        handler: type[JsonHandler] = type("Backend", (BackendHandler,), {"state": state})
    elif role == "telegram":
        handler = type("Telegram", (TelegramHandler,), {"state": TelegramState(journal)})
    else:
        raise ValueError(f"unknown role {role!r}")
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["backend", "telegram"])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, help="a folder that outlives restarts")
    args = parser.parse_args(argv)
    server = make_server(args.role, args.host, args.port, args.state)
    # As PID 1 in a container the default SIGTERM disposition is to ignore it: exit promptly.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"e2e {args.role} listening on {args.host}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
