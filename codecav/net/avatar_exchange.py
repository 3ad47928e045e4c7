"""Avatar exchange at join: announce a package's sha256, fetch a missing one in chunks over the control channel,
verify hash and format before anything uses it, and cache it.

A peer's Hello names the sha256 of its .cavatar bytes. The receiver looks in its cache; if absent it sends an
AvatarRequest, collects AvatarChunks in order and, on AvatarDone, checks size, count and sha256, then loads the
bytes with codecav.assets.loader.load_avatar (manifest, member hashes, shapes, finiteness, static ONNX checks).
Only then is the package cached and returned. Every refusal is counted by reason and logged; the call goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codecav.assets.errors import AvatarFormatError
from codecav.assets.loader import load_avatar
from codecav.assets.package import AvatarPackage
from codecav.assets.verify import run_decoder_once
from codecav.assets.writer import avatar_files, zip_bytes
from codecav.net.wire.control import AVATAR_CHUNK_BYTES, AvatarChunk, AvatarDone, AvatarRequest, Hello

log = logging.getLogger(__name__)

DEFAULT_MAX_AVATAR_BYTES = 64 * 1024 * 1024
"""Largest package a receiver accepts unless told otherwise (the loader's default total limit)."""


def default_avatar_cache_dir() -> Path:
    """`$CODECAV_CACHE/avatars`, else `$XDG_CACHE_HOME/codecav/avatars` (default ~/.cache/codecav/avatars)."""
    root = os.environ.get("CODECAV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "codecav")
    return Path(root) / "avatars"


def sha256_hex(data: bytes) -> str:
    """Lowercase hex sha256."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class OwnAvatar:
    """The avatar this peer drives: the package and the exact .cavatar bytes it offers to others."""

    package: AvatarPackage
    """The loaded, checked package."""
    data: bytes
    """The .cavatar bytes announced and sent."""
    sha256: str
    """sha256 of `data`, announced in Hello."""

    @staticmethod
    def from_path(path: Path | str) -> OwnAvatar:
        """Load and check a package (a .cavatar, or a directory zipped deterministically); AvatarFormatError."""
        path = Path(path)
        package = load_avatar(path)
        data = path.read_bytes() if path.is_file() else zip_bytes(avatar_files(package, str(path)))
        return OwnAvatar(package, data, sha256_hex(data))

    @staticmethod
    def from_package(package: AvatarPackage) -> OwnAvatar:
        """Offer an in-memory package (e.g. build_synthetic_avatar) as deterministic .cavatar bytes."""
        data = zip_bytes(avatar_files(package))
        return OwnAvatar(package, data, sha256_hex(data))

    def chunks(self) -> Iterator[AvatarChunk | AvatarDone]:
        """The transfer: AvatarChunks of at most AVATAR_CHUNK_BYTES in order, then AvatarDone."""
        count = 0
        for start in range(0, len(self.data), AVATAR_CHUNK_BYTES):
            yield AvatarChunk(self.sha256, count, self.data[start : start + AVATAR_CHUNK_BYTES])
            count += 1
        yield AvatarDone(self.sha256, len(self.data), count)


class TrialMemo:
    """The trial runs of this process by package digest: each package is trial-run once, however many
    participants (or calls) of this process fetch it; a second asker waits for the first's verdict."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, AvatarFormatError | None] = {}
        self._running: dict[str, threading.Lock] = {}

    def run_once(self, sha256: str, package: AvatarPackage) -> None:
        """run_decoder_once(package) unless it already ran for `sha256` here; raises its AvatarFormatError."""
        with self._lock:
            gate = self._running.setdefault(sha256, threading.Lock())
        with gate:
            if sha256 not in self._done:
                try:
                    run_decoder_once(package)
                    self._done[sha256] = None
                except AvatarFormatError as exc:
                    self._done[sha256] = exc
            verdict = self._done[sha256]
        if verdict is not None:
            raise verdict


TRIALS = TrialMemo()
"""This process's trial runs (AvatarCache.put)."""


DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024
"""Most bytes of packages an avatar cache keeps (least recently used go first)."""
STALE_TEMP_S = 3600.0
"""A temporary file of an unfinished check older than this (its process died mid-trial) is removed."""


class AvatarCache:
    """Verified packages on disk, named by the sha256 of their .cavatar bytes, at most `max_bytes` of them: after
    each new package the least recently used ones (by modification time, which `get` refreshes) are removed until
    the rest fit, never the new one. Peers can only add packages that passed every check, but as many as they like:
    the bound keeps a stream of new digests from filling the disk."""

    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = default_avatar_cache_dir() if root is None else Path(root)
        self.max_bytes = max_bytes
        self.evicted = 0
        """Packages removed to keep the cache within max_bytes (this process)."""

    def path_for(self, sha256: str) -> Path:
        """Where the package with this digest lives (or would)."""
        return self.root / f"{sha256}.cavatar"

    def get(self, sha256: str) -> AvatarPackage | None:
        """The cached package with this digest, re-hashed and re-checked; None if absent or no longer valid."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if sha256_hex(data) != sha256:
            log.warning("cached avatar %s does not match its digest; ignoring it", path)
            return None
        try:
            package = load_avatar(path)
        except AvatarFormatError as exc:
            log.warning("cached avatar %s no longer loads (%s); ignoring it", path, exc)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return package

    def put(self, sha256: str, data: bytes) -> AvatarPackage:
        """Check `data` (digest, load_avatar's static checks, then one bounded trial run of its models in a child
        process: codecav.assets.verify.run_decoder_once) and store it; AvatarFormatError or ValueError if refused.
        Blocks for up to the trial's deadline (10 s): call it off the event loop."""
        if sha256_hex(data) != sha256:
            raise ValueError("avatar bytes do not match the announced sha256")
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path_for(sha256)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        try:
            package = load_avatar(tmp)
            TRIALS.run_once(sha256, package)
        except AvatarFormatError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, final)
        self._evict(keep=final)
        return package

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used packages until the cache fits max_bytes (never `keep`), and temporary
        files older than STALE_TEMP_S."""
        now = time.time()
        entries = []
        for path in self.root.iterdir():
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.name.startswith(".") and ".tmp-" in path.name:
                if now - stat.st_mtime > STALE_TEMP_S:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".cavatar" and path != keep:
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries) + keep.stat().st_size
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            self.evicted += 1
            log.info("avatar cache over %d MB: removed %s (least recently used)", self.max_bytes // 2**20, path.name)


@dataclass
class ExchangeStats:
    """Counters of the receiving side of avatar exchange."""

    from_cache: int = 0
    """Avatars found in the cache."""
    fetched: int = 0
    """Avatars fetched, verified and cached."""
    bytes_received: int = 0
    """Chunk bytes received."""
    refused: dict[str, int] = field(default_factory=dict)
    """Refused transfers and stray messages by reason (see AvatarFetch.REASONS)."""
    last_refusal: str = ""
    """One line about the latest refusal."""


STRAY_REASONS = frozenset({"unexpected", "mid_transfer"})
"""Messages that are not for this fetch (through an SFU, other participants' transfers, or the part of a
broadcast round sent before we asked): counted, but they neither end the fetch nor get logged as warnings."""


class AvatarFetch:
    """Receiving side for one remote peer: decides whether to request, collects chunks, verifies the result."""

    REASONS = ("unexpected", "mid_transfer", "out_of_order", "too_large", "size_mismatch", "count_mismatch",
               "hash_mismatch", "invalid_package")
    """Refusal reasons of the transfer counted in ExchangeStats.refused; a package that arrives whole but fails its
    checks or trial run is counted as invalid_package:REASON with its AvatarFormatError's reason key
    (codecav.assets.errors, e.g. invalid_package:model_op_not_allowed, invalid_package:trial_timeout)."""

    def __init__(self, cache: AvatarCache, stats: ExchangeStats, *, max_bytes: int = DEFAULT_MAX_AVATAR_BYTES,
                 peer: str = "?") -> None:
        self.cache = cache
        self.stats = stats
        self.max_bytes = max_bytes
        self.peer = peer
        self.package: AvatarPackage | None = None
        """The verified package, once known."""
        self.failed = False
        """A transfer was refused; the peer's avatar stays unknown (its frames are not decoded)."""
        self.refusal: tuple[str, str] | None = None
        """(sha256, reason key) of the latest refused package, to tell its owner (AvatarRefused)."""
        self._wanted: str | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._request: AvatarRequest | None = None
        self._requested_us = 0
        self._progress_us: int | None = None

    def on_hello(self, hello: Hello, now_us: int = 0) -> AvatarRequest | None:
        """The request to send for the announced avatar, or None when the cache holds it (then `package` is set)."""
        cached = self.cache.get(hello.avatar_sha256)
        if cached is not None:
            self.stats.from_cache += 1
            self.package = cached
            return None
        self._wanted, self._parts, self._size, self.failed = hello.avatar_sha256, [], 0, False
        self._request = AvatarRequest(hello.avatar_id, hello.avatar_sha256)
        self._requested_us = self._progress_us = now_us
        return self._request

    @property
    def wanted(self) -> str | None:
        """The sha256 of the avatar being fetched (None: none wanted, or its transfer is over)."""
        return self._wanted

    def stalled_s(self, now_us: int) -> float:
        """Seconds the wanted avatar has made no progress: since the first request or the last chunk (0 when no
        transfer is wanted)."""
        if self._wanted is None or self._progress_us is None:
            return 0.0
        return max(0.0, (now_us - self._progress_us) / 1e6)

    def retry_request(self, now_us: int, after_us: int = 2_000_000) -> AvatarRequest | None:
        """The request again if it is still unanswered (no chunk) `after_us` after it was sent; else None.
        Through an SFU the owner may not have been subscribed to us when the first one went out."""
        if self._wanted is None or self._parts or self._request is None or now_us - self._requested_us < after_us:
            return None
        self._requested_us = now_us
        return self._request

    def _refuse(self, reason: str, detail: str, sha256: str | None = None) -> None:
        self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        self.stats.last_refusal = f"avatar from peer {self.peer} refused ({reason}): {detail}"
        # Through an SFU every transfer reaches every subscriber: strays are counted, not printed per chunk, and
        # do not end the fetch.
        stray = reason in STRAY_REASONS
        log.log(logging.DEBUG if stray else logging.WARNING, "%s", self.stats.last_refusal)
        if not stray:
            refused = sha256 or self._wanted
            if refused is not None:
                self.refusal = (refused, reason)
            self._wanted, self._parts, self._size, self.failed = None, [], 0, True

    def on_chunk(self, chunk: AvatarChunk, now_us: int | None = None) -> None:
        """Collect one chunk of the requested transfer (arrived at `now_us`); anything else is refused and
        counted."""
        if chunk.avatar_sha256 != self._wanted:
            self._refuse("unexpected", "a chunk of an avatar that was not requested")
            return
        if not self._parts and chunk.index > 0:
            self._refuse("mid_transfer", f"chunk {chunk.index} of a round that began before we asked")
            return
        if chunk.index != len(self._parts):
            self._refuse("out_of_order", f"chunk {chunk.index} arrived where {len(self._parts)} was due")
            return
        self._size += len(chunk.data)
        self.stats.bytes_received += len(chunk.data)
        if self._size > self.max_bytes:
            self._refuse("too_large", f"more than {self.max_bytes} bytes")
            return
        self._parts.append(chunk.data)
        if now_us is not None:
            self._progress_us = now_us

    def on_done(self, done: AvatarDone) -> AvatarPackage | None:
        """Finish the transfer: check size, count, digest and format; the package, or None if refused."""
        data = self.take(done)
        return None if data is None else self.verify(done.avatar_sha256, data)

    def take(self, done: AvatarDone) -> bytes | None:
        """The transfer's bytes if size, count and digest check out, else None (refused, or a stray); either way
        the transfer is over, so chunks arriving after it are strays (event loop; quick)."""
        if done.avatar_sha256 != self._wanted:
            self._refuse("unexpected", "the end of an avatar transfer that was not requested")
            return None
        if not self._parts and done.chunk_count > 0:
            self._refuse("mid_transfer", "the end of a round that began before we asked")
            return None
        if done.total_bytes != self._size:
            self._refuse("size_mismatch", f"{self._size} bytes received, {done.total_bytes} announced")
            return None
        if done.chunk_count != len(self._parts):
            self._refuse("count_mismatch", f"{len(self._parts)} chunks received, {done.chunk_count} announced")
            return None
        data = b"".join(self._parts)
        if sha256_hex(data) != done.avatar_sha256:
            self._refuse("hash_mismatch", "the bytes do not match the announced sha256")
            return None
        self._wanted, self._parts, self._size = None, [], 0
        return data

    def verify(self, sha256: str, data: bytes) -> AvatarPackage | None:
        """Check the taken bytes as a package (static checks and the trial run, see AvatarCache.put) and cache
        them; the package, or None if refused (slow: off the event loop)."""
        try:
            package = self.cache.put(sha256, data)
        except AvatarFormatError as exc:
            self._refuse(f"invalid_package:{exc.reason}", str(exc), sha256)
            return None
        except ValueError as exc:
            self._refuse("invalid_package", str(exc), sha256)
            return None
        self.stats.fetched += 1
        self.package = package
        return package
