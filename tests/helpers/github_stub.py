"""A local stand-in for the part of GitHub's REST API the action's comment script uses (127.0.0.1 only).

Issues (pull requests among them, as GitHub lists them), their comments, paginated by `per_page` and
`page`; create and update. Every request is recorded; a wrong token is 401 and a body over GitHub's
65,536 characters is 422, as GitHub answers them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghs_stub_token"
BODY_LIMIT = 65_536


@dataclass
class GitHubStub:
    repository: str = "acme/infra"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    _next_id: int = 1000

    def add_issue(self, title: str, body: str = "", *, pull_request: bool = False, state: str = "open") -> int:
        number = len(self.issues) + 1
        self.issues[number] = {"number": number, "title": title, "body": body, "state": state}
        if pull_request:
            self.issues[number]["pull_request"] = {"url": f"{self.url}/pulls/{number}"}
        return number

    def add_comment(self, number: int, body: str, user: str = "someone") -> int:
        self._next_id += 1
        url = f"https://github.test/{self.repository}#c{self._next_id}"
        self.comments[self._next_id] = {"id": self._next_id, "issue": number, "body": body, "user": {"login": user},
                                        "html_url": url}  # fmt: skip
        return self._next_id

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]


def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
    per_page = int(query.get("per_page", ["30"])[0])
    page = int(query.get("page", ["1"])[0])
    return items[(page - 1) * per_page : page * per_page]


def _handler(stub: GitHubStub) -> type[BaseHTTPRequestHandler]:
    prefix = f"/repos/{stub.repository}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            stub.requests.append((method, parts.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"message": "Bad credentials"})
                return
            if not parts.path.startswith(prefix):
                self._send(404, {"message": "Not Found"})
                return
            path, query = parts.path[len(prefix) :], parse_qs(parts.query)
            body = self._body() if method in ("POST", "PATCH") else {}
            if len(body.get("body") or "") > BODY_LIMIT:
                self._send(422, {"message": "Validation Failed", "errors": [{"message": "body is too long"}]})
                return
            if m := re.fullmatch(r"/issues/(\d+)/comments", path):
                number = int(m.group(1))
                if number not in stub.issues:
                    self._send(404, {"message": "Not Found"})
                elif method == "GET":
                    self._send(200, _page(stub.comments_on(number), query))
                else:
                    self._send(201, stub.comments[stub.add_comment(number, body["body"], "github-actions[bot]")])
            elif (m := re.fullmatch(r"/issues/comments/(\d+)", path)) and method == "PATCH":
                comment = stub.comments[int(m.group(1))]
                comment["body"] = body["body"]
                self._send(200, comment)
            elif path == "/issues" and method == "GET":
                state = query.get("state", ["open"])[0]
                listed = [i for i in stub.issues.values() if state == "all" or i["state"] == state]
                self._send(200, _page(listed, query))
            elif path == "/issues" and method == "POST":
                self._send(201, stub.issues[stub.add_issue(body["title"], body.get("body", ""))])
            elif (m := re.fullmatch(r"/issues/(\d+)", path)) and method == "PATCH":
                issue = stub.issues[int(m.group(1))]
                issue.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
                self._send(200, issue)
            else:
                self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler


@contextmanager
def serve_github() -> Iterator[GitHubStub]:
    """Serve a GitHubStub on 127.0.0.1 (a free port) for the duration of the block."""
    stub = GitHubStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
