"""A fake of GitHub's REST API v3 (the parts Kith reads), as GitHub documents it.

A Litestar app over in-memory repositories (`FakeGitHub`), served on a real local port
(tests/fakes/server.py). Paths, parameters, headers and bodies follow GitHub's reference:

- `GET /user` (the token's account; `X-OAuth-Scopes`), `GET /users/{login}` (public profile: `name`,
  `email` only when public), `GET /repos/{owner}/{repo}` (404 `{"message": "Not Found"}` when the token
  cannot see it).
- `GET /repos/{owner}/{repo}/pulls` (`state`, `sort=updated|created`, `direction`, `per_page` ≤ 100,
  `page`), newest-updated first, paged with a `Link` header (`rel="next"`, `"last"`, `"first"`,
  `"prev"`); `GET …/pulls/{n}/reviews`, `…/pulls/{n}/comments` and `…/issues/{n}/comments` (`since`),
  paged the same way.
- Every answer carries a weak `ETag`; a request whose `If-None-Match` matches gets 304 with no body, and
  costs no rate limit. Every other authenticated answer costs one: `X-RateLimit-Limit`,
  `-Remaining`, `-Used`, `-Reset` (epoch seconds), `-Resource: core`; with none left, 403
  `{"message": "API rate limit exceeded for user ID …"}` until the reset.
- `hold(path, query)` blocks the next matching request until released; `fail(path, query, status, times)` answers the next matching requests with a server error;
  `secondary_limit(times, retry_after)` answers the next requests 403 "You have exceeded a secondary rate
  limit" with `Retry-After`. A request without a known token is 401 `{"message": "Bad credentials"}`.

`fill_repository(name, n, span)` adds n pull requests made on demand from their number (newest first,
evenly spread over `span`; flat memory, for the 10,000-PR benchmark). `requests` logs
(path, query, status); `costly` counts the answers that cost rate limit, `list_pages` the pages of
pull requests served (200s). The `/_fake/...` routes arrange it from another process
(`python -m tests.fakes.github`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Litestar, Request, Response, get, post
from tests.fakes.google import Hold

DOCS = "https://docs.github.com/rest"


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(login: str, kind: str = "User") -> dict:
    return {
        "login": login,
        "id": int(hashlib.sha256(login.encode()).hexdigest()[:8], 16),
        "html_url": f"https://github.com/{login}",
        "type": kind,
    }


@dataclass
class Repository:
    name: str
    pulls: dict[int, dict] = field(default_factory=dict)  # number → pull request
    synthetic: int = 0  # pull requests 1..synthetic made on demand (on top of `pulls`)
    synthetic_newest: dt.datetime | None = None
    synthetic_step: dt.timedelta = dt.timedelta(hours=1)
    reviews: dict[int, list[dict]] = field(default_factory=dict)
    review_comments: dict[int, list[dict]] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)


@dataclass
class FakeGitHub:
    login: str = "me"
    rate_limit: int = 5000
    reset_every: float = 3600.0  # seconds until the rate limit resets
    tokens: set[str] = field(default_factory=set)
    users: dict[str, dict] = field(default_factory=dict)  # login → profile (name, email, company)
    deleted_users: set[str] = field(default_factory=set)  # logins whose profile is gone (404)
    repositories: dict[str, Repository] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (path, query, status)
    costly: int = 0
    list_pages: int = 0
    remaining: int = 5000
    reset_at: float = 0.0
    secondary: list[tuple[str, str]] = field(default_factory=list)  # (path part, Retry-After) of the next refusals
    failures: list[tuple[str, str, int]] = field(default_factory=list)  # (path part, query part, status)
    holds: list[Hold] = field(default_factory=list)
    url: str = ""
    _ids: int = 1000

    def __post_init__(self) -> None:
        self.remaining = self.rate_limit
        self.reset_at = time.time() + self.reset_every

    # ------------------------------------------------------------ arranging

    def token(self) -> str:
        value = "ghp_" + secrets.token_urlsafe(27)
        self.tokens.add(value)
        return value

    def user(self, login: str, name: str | None = None, email: str | None = None, company: str | None = None) -> None:
        self.users[login] = {"name": name, "email": email, "company": company}

    def repository(self, name: str) -> Repository:
        return self.repositories.setdefault(name, Repository(name))

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def pull(self, repo: str, number: int, author: str, updated: dt.datetime, title: str = "A change") -> dict:
        pull = {
            "id": self._next_id(),
            "number": number,
            "state": "open",
            "title": title,
            "user": user_json(author, "Bot" if author.endswith("[bot]") else "User"),
            "created_at": iso(updated - dt.timedelta(hours=1)),
            "updated_at": iso(updated),
            "html_url": f"https://github.com/{repo}/pull/{number}",
        }
        self.repository(repo).pulls[number] = pull
        return pull

    def _touch(self, repo: str, number: int, when: dt.datetime) -> None:
        pull = self.repository(repo).pulls[number]
        pull["updated_at"] = max(pull["updated_at"], iso(when))

    def review(self, repo: str, number: int, login: str, when: dt.datetime, state: str = "APPROVED", body: str = ""):
        review = {
            "id": self._next_id(),
            "user": user_json(login, "Bot" if login.endswith("[bot]") else "User"),
            "body": body,
            "state": state,
            "submitted_at": None if state == "PENDING" else iso(when),
        }
        self.repository(repo).reviews.setdefault(number, []).append(review)
        self._touch(repo, number, when)
        return review

    def comment(self, repo: str, number: int, login: str, when: dt.datetime, body: str, inline: bool = False):
        comment = {
            "id": self._next_id(),
            "user": user_json(login, "Bot" if login.endswith("[bot]") else "User"),
            "body": body,
            "created_at": iso(when),
            "updated_at": iso(when),
        }
        listing = self.repository(repo).review_comments if inline else self.repository(repo).comments
        listing.setdefault(number, []).append(comment)
        self._touch(repo, number, when)
        return comment

    def fill_repository(self, repo: str, count: int, span: dt.timedelta, newest: dt.datetime | None = None) -> None:
        """`count` pull requests, the newest updated at `newest` (now), the others evenly older over `span`."""
        repository = self.repository(repo)
        repository.synthetic = count
        repository.synthetic_newest = newest or dt.datetime.now(dt.UTC)
        repository.synthetic_step = span / max(1, count)

    def secondary_limit(self, times: int = 1, retry_after: str = "1", path_part: str = "/") -> None:
        self.secondary.extend([(path_part, retry_after)] * times)

    def fail(self, path_part: str, query_part: str = "", status: int = 502, times: int = 1) -> None:
        """The next `times` requests matching get `status` (a server error GitHub may answer with)."""
        self.failures.extend([(path_part, query_part, status)] * times)

    def hold(self, path_part: str, query_part: str = "") -> Hold:
        """Block the next request matching until `hold.release.set()`; `hold.reached` is set when it arrives."""
        held = Hold(path_part, query_part)
        self.holds.append(held)
        return held

    def count(self, path_part: str, query_part: str = "", status: int | None = None) -> int:
        return sum(
            1
            for path, query, code in self.requests
            if path_part in path and query_part in query and (status is None or code == status)
        )

    # ------------------------------------------------------------ reading

    def _pulls(self, repository: Repository) -> list[dict]:
        """Every pull request, newest-updated first (synthetic ones are made lazily by `_page`)."""
        return sorted(repository.pulls.values(), key=lambda p: (p["updated_at"], p["number"]), reverse=True)

    def _synthetic(self, repository: Repository, rank: int) -> dict:
        """The rank-th newest synthetic pull request (numbered from the oldest, 1)."""
        assert repository.synthetic_newest is not None
        number = repository.synthetic - rank
        updated = repository.synthetic_newest - repository.synthetic_step * rank
        author = f"dev{number % 300}"
        return {
            "id": 10_000_000 + number,
            "number": number,
            "state": "closed",
            "title": f"Change {number}",
            "user": user_json(author),
            "created_at": iso(updated - dt.timedelta(hours=2)),
            "updated_at": iso(updated),
            "html_url": f"https://github.com/{repository.name}/pull/{number}",
        }

    def _page_of_pulls(self, repository: Repository, start: int, size: int) -> tuple[list[dict], int]:
        """Explicit pull requests first when they are newer, synthetic ones by rank: (the page, the total)."""
        explicit = self._pulls(repository)
        total = len(explicit) + repository.synthetic
        if not repository.synthetic:
            return explicit[start : start + size], total
        # Explicit pulls are all newer than the synthetic ones in the tests and the benchmark that mix them.
        page = explicit[start : start + size]
        first_synthetic = max(0, start - len(explicit))
        while len(page) < size and first_synthetic < repository.synthetic:
            page.append(self._synthetic(repository, first_synthetic))
            first_synthetic += 1
        return page, total

    def _synthetic_children(self, repository: Repository, number: int, kind: str) -> list[dict]:
        if number > repository.synthetic or number < 1 or repository.synthetic_newest is None:
            return []
        updated = repository.synthetic_newest - repository.synthetic_step * (repository.synthetic - number)
        if kind == "reviews" and number % 2 == 0:
            reviewer = f"dev{(number * 7) % 300}"
            return [
                {
                    "id": 20_000_000 + number,
                    "user": user_json(reviewer),
                    "body": "LGTM",
                    "state": "APPROVED",
                    "submitted_at": iso(updated - dt.timedelta(minutes=30)),
                }
            ]
        if kind == "comments" and number % 3 == 0:
            return [
                {
                    "id": 30_000_000 + number,
                    "user": user_json(f"dev{(number * 11) % 300}"),
                    "body": "Thanks!",
                    "created_at": iso(updated),
                    "updated_at": iso(updated),
                }
            ]
        return []

    # ------------------------------------------------------------ serving

    def app(self) -> Litestar:
        fake = self

        def problem(status: int, message: str, headers: dict | None = None) -> Response:
            return Response({"message": message, "documentation_url": DOCS}, status_code=status, headers=headers)

        def limits() -> dict[str, str]:
            return {
                "X-RateLimit-Limit": str(fake.rate_limit),
                "X-RateLimit-Remaining": str(fake.remaining),
                "X-RateLimit-Used": str(fake.rate_limit - fake.remaining),
                "X-RateLimit-Reset": str(int(fake.reset_at)),
                "X-RateLimit-Resource": "core",
            }

        def log(request: Request, status: int) -> None:
            fake.requests.append((request.url.path, request.url.query or "", status))

        def answer(request: Request, body: Any, headers: dict[str, str] | None = None) -> Response:
            """200 with the body, or 304 when If-None-Match names its ETag (then no rate limit is spent)."""
            content = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
            etag = f'W/"{hashlib.sha256(content).hexdigest()[:40]}"'
            if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
                log(request, 304)
                return Response(b"", status_code=304, headers={"ETag": etag, **limits()})
            if fake.remaining <= 0:
                log(request, 403)
                return problem(
                    403, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support…", limits()
                )
            fake.remaining -= 1
            fake.costly += 1
            log(request, 200)
            return Response(
                content,
                media_type="application/json; charset=utf-8",
                headers={"ETag": etag, **limits(), **(headers or {})},
            )

        def paged(request: Request, items_at: Any, total: int) -> tuple[Any, dict[str, str]]:
            """The page `page` of `per_page` items (`items_at(start, size)`), and its Link header."""
            q = request.query_params
            size = max(1, min(100, int(q.get("per_page") or 30)))
            number = max(1, int(q.get("page") or 1))
            items = items_at((number - 1) * size, size)
            last = max(1, -(-total // size))
            query = {k: v for k, v in q.items() if k != "page"}

            def link(page: int) -> str:
                return f"{fake.url}{request.url.path}?{urlencode({**query, 'page': page})}"

            rels = []
            if number < last:
                rels += [f'<{link(number + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
            if number > 1:
                rels += [f'<{link(1)}>; rel="first"', f'<{link(number - 1)}>; rel="prev"']
            return items, {"Link": ", ".join(rels)} if rels else {}

        async def before(request: Request) -> Response | None:
            for held in list(fake.holds):
                if held.path_part in request.url.path and held.query_part in (request.url.query or ""):
                    fake.holds.remove(held)
                    held.reached.set()
                    await asyncio.to_thread(held.release.wait, 30)
            if time.time() >= fake.reset_at:
                fake.remaining = fake.rate_limit
                fake.reset_at = time.time() + fake.reset_every
            if request.url.path.startswith("/_fake/"):
                return None
            token = request.headers.get("authorization", "").removeprefix("Bearer ").removeprefix("token ")
            if token not in fake.tokens:
                log(request, 401)
                return problem(401, "Bad credentials")
            for failure in fake.failures:
                if failure[0] in request.url.path and failure[1] in (request.url.query or ""):
                    fake.failures.remove(failure)
                    log(request, failure[2])
                    return problem(failure[2], "Server Error")
            if fake.secondary and fake.secondary[0][0] in request.url.path:
                retry_after = fake.secondary.pop(0)[1]
                log(request, 403)
                return problem(
                    403,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    {"Retry-After": retry_after, **limits()},
                )
            return None

        @get("/user")
        async def me(request: Request) -> Response:
            profile = fake.users.get(fake.login, {})
            return answer(request, {**user_json(fake.login), **profile}, {"X-OAuth-Scopes": "repo, read:user"})

        @get("/users/{login:str}")
        async def profile(request: Request, login: str) -> Response:
            if login in fake.deleted_users:
                log(request, 404)
                return problem(404, "Not Found")
            known = next((v for k, v in fake.users.items() if k.lower() == login.lower()), {})
            return answer(request, {**user_json(login), "name": None, "email": None, "company": None, **known})

        @get("/repos/{owner:str}/{repo:str}")
        async def repository(request: Request, owner: str, repo: str) -> Response:
            if f"{owner}/{repo}" not in fake.repositories:
                log(request, 404)
                return problem(404, "Not Found")
            return answer(request, {"full_name": f"{owner}/{repo}", "private": False})

        @get("/repos/{owner:str}/{repo:str}/pulls")
        async def pulls(request: Request, owner: str, repo: str) -> Response:
            found = fake.repositories.get(f"{owner}/{repo}")
            if found is None:
                log(request, 404)
                return problem(404, "Not Found")
            q = request.query_params
            assert q.get("sort") == "updated" and q.get("direction") == "desc" and q.get("state") == "all"
            _, total = fake._page_of_pulls(found, 0, 0)
            items, headers = paged(request, lambda start, size: fake._page_of_pulls(found, start, size)[0], total)
            response = answer(request, items, headers)
            if fake.requests[-1][2] == 200:
                fake.list_pages += 1
            return response

        def children(request: Request, owner: str, repo: str, number: int, kind: str) -> Response:
            found = fake.repositories.get(f"{owner}/{repo}")
            if found is None:
                log(request, 404)
                return problem(404, "Not Found")
            items = list(getattr(found, kind).get(number, [])) + fake._synthetic_children(found, number, kind)
            if since := request.query_params.get("since"):
                items = [i for i in items if i.get("updated_at", "") >= since]
            page, headers = paged(request, lambda start, size: items[start : start + size], len(items))
            return answer(request, page, headers)

        @get("/repos/{owner:str}/{repo:str}/pulls/{number:int}/reviews")
        async def reviews(request: Request, owner: str, repo: str, number: int) -> Response:
            return children(request, owner, repo, number, "reviews")

        @get("/repos/{owner:str}/{repo:str}/pulls/{number:int}/comments")
        async def review_comments(request: Request, owner: str, repo: str, number: int) -> Response:
            return children(request, owner, repo, number, "review_comments")

        @get("/repos/{owner:str}/{repo:str}/issues/{number:int}/comments")
        async def comments(request: Request, owner: str, repo: str, number: int) -> Response:
            return children(request, owner, repo, number, "comments")

        @post("/_fake/token")
        async def control_token() -> dict:
            return {"token": fake.token()}

        @post("/_fake/repository")
        async def control_repository(data: dict[str, Any]) -> dict:
            """{"name": "owner/repo", "pulls": n, "days": span of their updates}."""
            fake.fill_repository(data["name"], int(data["pulls"]), dt.timedelta(days=float(data["days"])))
            return {"pulls": int(data["pulls"])}

        @get("/_fake/counts")
        async def control_counts() -> dict:
            return {"requests": len(fake.requests), "costly": fake.costly, "list_pages": fake.list_pages}

        return Litestar(
            [
                me,
                profile,
                repository,
                pulls,
                reviews,
                review_comments,
                comments,
                control_token,
                control_repository,
                control_counts,
            ],
            before_request=before,
            debug=False,
        )


if __name__ == "__main__":
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Serve a fake GitHub REST API on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    fake = FakeGitHub(rate_limit=1_000_000)
    fake.url = f"http://127.0.0.1:{args.port}"
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
