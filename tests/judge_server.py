"""A real HTTP server on 127.0.0.1 that serves OpenAI's chat-completions route, for the judge's tests.

    python -m tests.judge_server --log FILE [--mode ok|slow|error|garbage|unparsed] [--die-after N]
                                 [--delay S]

It prints `port N` once listening. Every request is appended to FILE as one JSON line (the user
message, and when it arrived), so a test can tell exactly which questions were asked. The verdict
is a pure function of the message (yes for a third of them by hash), so runs are repeatable.
Modes: `slow` sleeps 30 s before answering (past any test's timeout), `error` answers 500,
`garbage` answers 200 with a body that is not JSON, `unparsed` replies "maybe". `--die-after N`
exits the whole process, without answering, on request N + 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verdict(content: str) -> str:
    return "Yes." if hashlib.sha256(content.encode()).digest()[0] % 3 == 0 else "no"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--mode", default="ok", choices=("ok", "slow", "error", "garbage", "unparsed"))
    parser.add_argument("--die-after", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet: the JSON log is the record
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = body["messages"][-1]["content"]
            with lock:
                served[0] += 1
                if args.die_after is not None and served[0] > args.die_after:
                    os._exit(3)
                with open(args.log, "a") as log:
                    entry = {"content": content, "model": body["model"], "auth": self.headers.get("Authorization")}
                    log.write(json.dumps({**entry, "t": time.time()}) + "\n")
            time.sleep(30 if args.mode == "slow" else args.delay)
            if args.mode == "error":
                return self._send(500, b'{"error": {"message": "internal error"}}')
            if args.mode == "garbage":
                return self._send(200, b"<html>not json")
            reply = "maybe" if args.mode == "unparsed" else verdict(content)
            completion = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._send(200, json.dumps(completion).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
