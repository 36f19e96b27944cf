"""GitHub (REST API v3) as a connector source: code reviews and comments are interactions with the people met.

A connection names repositories. Each repository's pull requests are read newest-updated first
(`GET /repos/{owner}/{repo}/pulls?state=all&sort=updated&direction=desc&per_page=100`), paged by the
`Link` header's `rel="next"`, and reading stops at the first pull request older than the window
(`days_back`) or not updated since the last pass: a generator holding one page, whatever the
repository's size. Each page is a step, checkpointed with the next page's URL, so a run killed half-way
resumes there; a pull request updated meanwhile moves to the top, which the next pass reads.

The first page is requested with `If-None-Match` and the ETag the last finished pass got for it: an
unchanged repository answers 304 Not Modified, which GitHub does not count against the rate limit, and
nothing else is read.

Per pull request: its reviews (`/pulls/{n}/reviews`), review comments (`/pulls/{n}/comments`) and
conversation comments (`/issues/{n}/comments`), each paged by `Link`. Each review or comment by someone
else is an interaction with its author (direction `in`); one by the connection's own account is one with
the pull request's author (`out`). Authors, reviewers and commenters become contacts, keyed by their
login (contact_keys kind `github`), with their name and public email from `GET /users/{login}` (once per
login per run). Bots (`type: Bot`) are skipped, as mail from no-reply senders is. An edited or deleted
comment is left as it was first read.

Requests are serial, as GitHub asks of integrations. `X-RateLimit-Remaining` / `X-RateLimit-Reset` are
read from every response: at 0 the client waits for the reset before sending more (or, if the reset is
further off than KITH_CONNECTOR_RETRY_MAX_DELAY, ends the run, which the next sync resumes from its
checkpoint). A secondary rate limit (403 or 429 with `Retry-After`) waits that long; other 403/429s
and 5xx back off exponentially.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from kith.connectors.api_client import ApiError, decode_json
from kith.connectors.rest_client import RestClient
from kith.connectors.steps import Step
from kith.sync.sources import ContactRecord, MessageRecord, SourceBatch
from kith.sync.sources._common import normalize_email

PAGE_SIZE = 100  # GitHub's most per page
CHANNEL = "github"
KEY_KIND = "github"  # contact_keys.kind of a login (lowercased)
THREAD_PREFIX = "pr/"  # conversations.external_id of a pull request's conversation: pr/owner/repo#n
ACCEPT = "application/vnd.github+json"
API_VERSION = "2022-11-28"
PROFILES_KEPT = 10_000  # logins whose profile a run remembers (bounded: the run's memory stays flat)


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class GitHubApi(RestClient):
    """GitHub's REST API v3: `X-RateLimit-Remaining` / `X-RateLimit-Reset`."""

    headers = {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION}


class GitHubSource:
    key = "github"
    key_kind = KEY_KIND

    def __init__(
        self, api: GitHubApi, base_url: str, account: str, repositories: list[str], days_back: int | None
    ) -> None:
        self.api = api
        self.base_url = base_url
        self.me = account.lower()
        self.repositories = repositories
        self.window_start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_back) if days_back else None
        self.profiles: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.index = 0

    async def steps(self, checkpoint: dict[str, Any]) -> AsyncIterator[Step]:
        states: dict[str, Any] = dict(checkpoint.get("repos") or {})
        for repository in self.repositories:
            async for step in self._repository(repository, states):
                yield step

    async def _repository(self, repository: str, states: dict[str, Any]) -> AsyncIterator[Step]:
        state = dict(states.get(repository) or {})
        through = parse_time(state.get("through"))  # the newest update the last finished pass read down from
        limits = [t for t in (through, self.window_start) if t is not None]
        older_than = max(limits) if limits else None
        url: str | None
        if state.get("next"):  # a pass killed half-way: on from its next page
            url, params, etag = state["next"], None, None
        else:
            url = f"{self.base_url}/repos/{repository}/pulls"
            params = {"state": "all", "sort": "updated", "direction": "desc", "per_page": PAGE_SIZE}
            etag = state.get("etag")
            state = {"etag": etag, "through": state.get("through")}
        while url:
            response = await self.api.get(url, params, etag)
            if response.status_code == 304:
                return  # unchanged since the last pass: nothing to read, nothing to store
            if params is not None:  # the first page: its ETag and newest update end this pass
                state["pass_etag"] = response.headers.get("etag")
            pulls = decode_json(response)
            people: dict[str, ContactRecord] = {}
            batch: SourceBatch = SourceBatch()
            ended = False
            for pull in pulls if isinstance(pulls, list) else ():
                updated = parse_time(pull.get("updated_at"))
                if updated is None or (older_than is not None and updated <= older_than):
                    ended = True
                    break
                state.setdefault("pass_through", iso(updated))
                await self._pull(repository, pull, people, batch)
            url = None if ended else response.links.get("next", {}).get("url")
            params = etag = None
            if url:
                state["next"] = url
            else:
                state = {"etag": state.get("pass_etag"), "through": state.get("pass_through") or state.get("through")}
            states[repository] = state
            yield Step(
                batch,
                {"repos": {name: dict(value) for name, value in states.items()}},
                people=SourceBatch(records=list(people.values())) if people else None,
            )

    async def _pull(
        self, repository: str, pull: dict[str, Any], people: dict[str, ContactRecord], batch: SourceBatch
    ) -> None:
        number = pull.get("number")
        author = pull.get("user") or {}
        base = f"{self.base_url}/repos/{repository}"
        thread = f"{THREAD_PREFIX}{repository.lower()}#{number}"
        subject = f"{repository}#{number}: {pull.get('title') or ''}".strip()
        since = {"since": iso(self.window_start)} if self.window_start else {}
        await self._person(author, people)
        listings = (
            ("review", f"{base}/pulls/{number}/reviews", {"per_page": PAGE_SIZE}, "submitted_at"),
            ("review_comment", f"{base}/pulls/{number}/comments", {"per_page": PAGE_SIZE, **since}, "created_at"),
            ("comment", f"{base}/issues/{number}/comments", {"per_page": PAGE_SIZE, **since}, "created_at"),
        )
        for kind, url, params, dated in listings:
            async for page in self.api.pages(url, params):
                for item in page:
                    index, self.index = self.index, self.index + 1
                    sent_at = parse_time(item.get(dated))
                    user = item.get("user") or {}
                    login = str(user.get("login") or "").lower()
                    mine = login == self.me
                    counterpart = str(author.get("login") or "").lower() if mine else login
                    if (
                        sent_at is None  # a pending review
                        or (self.window_start is not None and sent_at < self.window_start)
                        or not counterpart
                        or counterpart == self.me
                        or user.get("type") == "Bot"
                        or (mine and author.get("type") == "Bot")
                    ):
                        batch.skipped += 1
                        continue
                    if not mine:
                        await self._person(user, people)
                    text = item.get("body") or (f"Review: {item.get('state', '').lower()}" if kind == "review" else "")
                    batch.records.append(
                        MessageRecord(
                            external_id=f"{kind}/{item['id']}",
                            thread_key=thread,
                            subject=subject,
                            body=text,
                            sent_at=sent_at,
                            direction="out" if mine else "in",
                            counterpart_email=counterpart,
                            counterpart_name=None,
                            counterpart_kind=KEY_KIND,
                            channel=CHANNEL,
                            source_index=index,
                        )
                    )

    async def _person(self, user: dict[str, Any], people: dict[str, ContactRecord]) -> None:
        """The user as a contact record in this page's people (not the account itself, not a bot)."""
        login = str(user.get("login") or "").lower()
        if not login or login == self.me or user.get("type") == "Bot" or login in people:
            return
        profile = self.profiles.get(login)
        if profile is None:
            try:
                profile = decode_json(await self.api.get(f"{self.base_url}/users/{login}"))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                profile = {}  # a deleted account (GitHub shows it as "ghost"): its login is all there is
            profile = profile if isinstance(profile, dict) else {}
            self.profiles[login] = profile
            if len(self.profiles) > PROFILES_KEPT:
                self.profiles.popitem(last=False)
        else:
            self.profiles.move_to_end(login)
        email = normalize_email(profile.get("email"))
        people[login] = ContactRecord(
            full_name=profile.get("name") or user.get("login") or login,
            emails=[email] if email else [],
            company=(profile.get("company") or "").removeprefix("@").strip() or None,
            links=[profile.get("html_url") or user.get("html_url") or f"https://github.com/{login}"],
            external_id=login,
            source_index=self.index,
        )
