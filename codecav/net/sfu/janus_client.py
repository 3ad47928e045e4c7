"""A small client of Janus's HTTP API (sessions, plugin handles, long-poll events), enough for the VideoRoom."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import aiohttp

from codecav.net.sfu.janus_server import JanusError
from codecav.net.tasks import cancel_and_wait

Json = dict[str, Any]


class JanusHandle:
    """A plugin handle: `message()` for asynchronous requests (answered by an event), `request()` for synchronous
    ones; unsolicited events arrive in `events`."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.events: asyncio.Queue[Json] = asyncio.Queue()
        """Events not answering a request of ours (publishers joining, leaving, webrtcup, ...)."""

    async def request(self, body: Json) -> Json:
        """A synchronous plugin request (e.g. create, exists); the plugin's data. JanusError if it failed."""
        reply = await self.session.post(f"/{self.session.id}/{self.id}", {"janus": "message", "body": body})
        return _plugin_data(reply)

    async def message(self, body: Json, jsep: Json | None = None, timeout_s: float = 15.0) -> tuple[Json, Json | None]:
        """An asynchronous request; (plugin data, jsep) of the event answering it. JanusError if it failed."""
        payload: Json = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        transaction = secrets.token_hex(8)
        waiter = self.session.expect(transaction)
        await self.session.post(f"/{self.session.id}/{self.id}", payload, transaction=transaction)
        try:
            async with asyncio.timeout(timeout_s):  # not wait_for: see PeerLink.wait_open
                event = await waiter
        except TimeoutError:
            raise JanusError(f"Janus did not answer {body.get('request')!r} within {timeout_s:g} s") from None
        finally:
            self.session.forget(transaction)
        return _plugin_data(event), event.get("jsep")

    async def detach(self) -> None:
        """Detach the handle (its PeerConnection on the Janus side closes)."""
        with contextlib.suppress(JanusError, aiohttp.ClientError):
            await self.session.post(f"/{self.session.id}/{self.id}", {"janus": "detach"})


def _plugin_data(reply: Json) -> Json:
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise JanusError(f"Janus error {error.get('code')}: {error.get('reason')}")
    data: Json = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data:
        raise JanusError(f"Janus VideoRoom error {data['error_code']}: {data.get('error')}")
    return data


class JanusSession:
    """One Janus session over HTTP: `await create()`, `attach(plugin)`, `await destroy()`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.id: int | None = None
        self._http: aiohttp.ClientSession | None = None
        self._poller: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[Json]] = {}
        self._handles: dict[int, JanusHandle] = {}

    async def post(self, path: str, payload: Json, transaction: str | None = None) -> Json:
        """POST a Janus request; the immediate reply (success, ack or error)."""
        if self._http is None:
            raise JanusError("Janus session is not created; call create() first")
        body = {**payload, "transaction": transaction or secrets.token_hex(8)}
        try:
            async with self._http.post(self.url + path, json=body) as reply:
                data: Json = await reply.json(content_type=None)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise JanusError(f"cannot reach Janus at {self.url} ({exc}); is it running?") from None
        if data.get("janus") == "error":
            error = data.get("error", {})
            raise JanusError(f"Janus error {error.get('code')}: {error.get('reason')}")
        return data

    async def create(self) -> None:
        """Open the session and start long-polling its events."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        reply = await self.post("", {"janus": "create"})
        self.id = int(reply["data"]["id"])
        self._poller = asyncio.create_task(self._poll(), name=f"janus-poll-{self.id}")

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> JanusHandle:
        """A new handle on `plugin`."""
        reply = await self.post(f"/{self.id}", {"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(reply["data"]["id"]))
        self._handles[handle.id] = handle
        return handle

    def expect(self, transaction: str) -> asyncio.Future[Json]:
        """A future for the event answering `transaction`."""
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        return future

    def forget(self, transaction: str) -> None:
        """Stop waiting for `transaction`."""
        self._waiting.pop(transaction, None)

    async def _poll(self) -> None:
        assert self._http is not None
        while True:
            try:
                async with self._http.get(f"{self.url}/{self.id}?maxev=20",
                                          timeout=aiohttp.ClientTimeout(total=40)) as reply:
                    events = await reply.json(content_type=None)
            except (aiohttp.ClientError, OSError, ValueError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: Json) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        waiter = self._waiting.get(str(event.get("transaction", "")))
        if kind == "event" and waiter is not None and not waiter.done():
            waiter.set_result(event)
            return
        handle = self._handles.get(int(event.get("sender", 0) or 0))
        if handle is not None:
            handle.events.put_nowait(event)

    async def destroy(self) -> None:
        """Destroy the session on Janus and stop polling."""
        await cancel_and_wait(self._poller)
        self._poller = None
        if self._http is not None:
            if self.id is not None:
                with contextlib.suppress(JanusError):
                    await self.post(f"/{self.id}", {"janus": "destroy"})
            await self._http.close()
            self._http = None
