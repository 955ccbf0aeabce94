#!/usr/bin/env python3
"""Post pmpc's markdown to GitHub as ONE sticky pull-request comment, or keep ONE drift issue up to date.

Standard library only: it runs on the runner's Python, whatever pmpc version the action installed.
A hidden marker (`<!-- pmpc-action: KEY -->`) finds what an earlier run posted, so a second run
updates it instead of adding another.

    sticky_comment.py comment --key KEY --body-file FILE [--pr N]
        create or update the pull request's comment (N defaults to the event's pull request)
    sticky_comment.py issue --key KEY --body-file FILE --title TITLE --has-changes true|false
        drift found: create or update the open issue; no drift: close it (if one is open)

Environment: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), GITHUB_API_URL (default
https://api.github.com), GITHUB_EVENT_PATH (the event, for the pull request number), and for the
footer GITHUB_SERVER_URL, GITHUB_RUN_ID, GITHUB_SHA. Exit 0 on success (or nothing to do), 1 on error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

# GitHub refuses a comment or issue body over this many characters.
BODY_LIMIT = 65_536
PER_PAGE = 100
MAX_PAGES = 50
TIMEOUT = 30


class GitHubError(Exception):
    """A request to the GitHub API failed; str() is one sentence."""


def marker(key: str) -> str:
    """Return the hidden marker for KEY (`--` cannot appear inside an HTML comment)."""
    return f"<!-- pmpc-action: {re.sub(r'-{2,}', '-', key).strip()} -->"


def compose(key: str, markdown: str, env: dict[str, str]) -> str:
    """Return the body: marker, the markdown, and a footer naming the commit and the run."""
    footer = ""
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    sha = env.get("PMPC_ACTION_SHA") or env.get("GITHUB_SHA") or ""
    if server and repo and run:
        link = f"[workflow run]({server}/{repo}/actions/runs/{run})"
        footer = f"\n<sub>pmpc for {sha[:7] or 'this commit'} · {link}</sub>\n"
    head = marker(key) + "\n"
    room = BODY_LIMIT - len(head) - len(footer)
    if len(markdown) > room:
        cut = "\n\n**(cut to fit GitHub's comment limit: see the job summary for the rest)**\n"
        markdown = markdown[: room - len(cut)] + cut
    return head + markdown + footer


class GitHub:
    """The few REST calls this script needs, with the token and GitHub's JSON media type."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", "pmpc-action")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise GitHubError(f"{method} {path} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise GitHubError(f"{method} {path} failed: {getattr(exc, 'reason', exc)}") from exc
        return json.loads(text) if text else None

    def find(self, path: str, mark: str, **query: str) -> dict[str, Any] | None:
        """Return the first item of a paginated list whose body holds the marker."""
        for page in range(1, MAX_PAGES + 1):
            params = "&".join(f"{k}={v}" for k, v in {**query, "per_page": PER_PAGE, "page": page}.items())
            items = self.request("GET", f"{path}?{params}") or []
            for item in items:
                if mark in (item.get("body") or "") and "pull_request" not in item:
                    return item
            if len(items) < PER_PAGE:
                return None
        return None


def pull_request_number(env: dict[str, str]) -> int | None:
    """Return the pull request of the triggering event, or None."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number")
    if number is None and (event.get("issue") or {}).get("pull_request"):
        number = event["issue"]["number"]
    return int(number) if number is not None else None


def sticky_comment(api: GitHub, number: int, key: str, body: str) -> str:
    """Create or update the pull request's one pmpc comment; return what was done and where."""
    found = api.find(f"/issues/{number}/comments", marker(key))
    if found is not None:
        updated = api.request("PATCH", f"/issues/comments/{found['id']}", {"body": body})
        return f"updated comment {updated.get('html_url') or found['id']}"
    created = api.request("POST", f"/issues/{number}/comments", {"body": body})
    return f"created comment {created.get('html_url') or created.get('id')}"


def drift_issue(api: GitHub, key: str, body: str, title: str, has_changes: bool) -> str:
    """Open or update the one drift issue when there is drift; close it when there is none."""
    found = api.find("/issues", marker(key), state="open")
    if has_changes:
        if found is not None:
            api.request("PATCH", f"/issues/{found['number']}", {"body": body, "title": title})
            return f"updated issue #{found['number']}"
        created = api.request("POST", "/issues", {"title": title, "body": body})
        return f"opened issue #{created['number']}"
    if found is None:
        return "no drift and no open drift issue: nothing to do"
    api.request("POST", f"/issues/{found['number']}/comments", {"body": "No drift any more: closing."})
    api.request("PATCH", f"/issues/{found['number']}", {"state": "closed", "state_reason": "completed"})
    return f"closed issue #{found['number']}"


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("comment", "issue"))
    parser.add_argument("--key", required=True, help="What this post is about, e.g. 'plan infra prod'.")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--pr", type=int, help="Pull request number (default: the event's).")
    parser.add_argument("--title", default="pmpc: drift detected")
    parser.add_argument("--has-changes", choices=("true", "false"), default="true")
    args = parser.parse_args(argv)
    try:
        repository, token = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_TOKEN", "")
        if not repository:
            raise GitHubError("GITHUB_REPOSITORY is not set.")
        with open(args.body_file, encoding="utf-8") as handle:
            body = compose(args.key, handle.read(), env)
        api = GitHub(env.get("GITHUB_API_URL") or "https://api.github.com", repository, token)
        if args.mode == "comment":
            number = args.pr or pull_request_number(env)
            if number is None:
                print("::notice::pmpc: not a pull request event: no comment posted.")
                return 0
            print(f"pmpc: {sticky_comment(api, number, args.key, body)}")
        else:
            print(f"pmpc: {drift_issue(api, args.key, body, args.title, args.has_changes == 'true')}")
    except (GitHubError, OSError) as exc:
        print(f"::error::pmpc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
