"""Avatar exchange state machine with real packages: cache, chunked fetch, every refusal path."""

from __future__ import annotations

import io
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from codecav.assets.synthetic.avatar import build_synthetic_avatar
from codecav.net.avatar_exchange import AvatarCache, AvatarFetch, ExchangeStats, OwnAvatar, sha256_hex
from codecav.net.wire.control import (
    AvatarChunk,
    AvatarDone,
    Hello,
    decode_control_message,
    encode_control_message,
)


@lru_cache(maxsize=1)
def own() -> OwnAvatar:
    """A small synthetic avatar offered as .cavatar bytes."""
    return OwnAvatar.from_package(build_synthetic_avatar(seed=3, feature_size=16, mesh_resolution=(8, 12)))


def hello(avatar: OwnAvatar) -> Hello:
    return Hello("alice", avatar.package.manifest.avatar_id, avatar.sha256, ("int8",))


def transfer(fetch: AvatarFetch, messages: list[AvatarChunk | AvatarDone]) -> object:
    """Feed messages through the real control encoding, as the channel would; the result of AvatarDone."""
    result = None
    for msg in messages:
        decoded = decode_control_message(encode_control_message(msg))
        if isinstance(decoded, AvatarChunk):
            fetch.on_chunk(decoded)
        elif isinstance(decoded, AvatarDone):
            result = fetch.on_done(decoded)
    return result


def test_fetch_verifies_and_caches_then_the_cache_serves_it(tmp_path: Path) -> None:
    avatar = own()
    stats = ExchangeStats()
    cache = AvatarCache(tmp_path)
    fetch = AvatarFetch(cache, stats, peer="alice")
    request = fetch.on_hello(hello(avatar))
    assert request is not None and request.avatar_sha256 == avatar.sha256
    chunks = list(avatar.chunks())
    assert len(chunks) >= 2  # really chunked
    package = transfer(fetch, chunks)
    assert fetch.package is not None and fetch.package is package
    assert fetch.package.manifest.avatar_id == avatar.package.manifest.avatar_id
    assert sha256_hex(cache.path_for(avatar.sha256).read_bytes()) == avatar.sha256
    assert stats.fetched == 1 and stats.bytes_received == len(avatar.data) and not stats.refused
    again = AvatarFetch(cache, stats)
    assert again.on_hello(hello(avatar)) is None and again.package is not None
    assert stats.from_cache == 1


def test_a_tampered_avatar_is_refused_and_never_cached(tmp_path: Path) -> None:
    avatar = own()
    stats = ExchangeStats()
    cache = AvatarCache(tmp_path)
    fetch = AvatarFetch(cache, stats)
    fetch.on_hello(hello(avatar))
    chunks = list(avatar.chunks())
    first = chunks[0]
    assert isinstance(first, AvatarChunk)
    flipped = bytes([first.data[100] ^ 1])
    chunks[0] = AvatarChunk(first.avatar_sha256, 0, first.data[:100] + flipped + first.data[101:])
    assert transfer(fetch, chunks) is None
    assert stats.refused == {"hash_mismatch": 1} and fetch.failed and fetch.package is None
    assert "hash_mismatch" in stats.last_refusal
    assert not any(tmp_path.iterdir())


def test_a_package_whose_hash_matches_but_whose_format_is_bad_is_refused(tmp_path: Path) -> None:
    """A peer can announce the digest of any bytes: the format check (load_avatar) must still refuse them."""
    avatar = own()
    with zipfile.ZipFile(io.BytesIO(avatar.data)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["decoder.onnx"] = b"not an onnx model"  # member hash in avatar.json no longer matches
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    bad = OwnAvatar(avatar.package, buf.getvalue(), sha256_hex(buf.getvalue()))
    stats = ExchangeStats()
    fetch = AvatarFetch(AvatarCache(tmp_path), stats)
    fetch.on_hello(hello(bad))
    assert transfer(fetch, list(bad.chunks())) is None
    assert stats.refused == {"invalid_package:hash_mismatch": 1}  # the member's hash, checked by load_avatar
    assert "sha256 mismatch" in stats.last_refusal
    assert not any(p.suffix == ".cavatar" for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ch: ch[:3] + ch[4:], "out_of_order"),
        (lambda ch: ch[:-2] + ch[-1:], "size_mismatch"),
        (lambda ch: ch[:-1] + [AvatarDone(ch[-1].avatar_sha256, ch[-1].total_bytes, ch[-1].chunk_count + 1)],
         "count_mismatch"),
    ],
)
def test_broken_transfers_are_refused_by_reason(tmp_path: Path, mutate: object, reason: str) -> None:
    avatar = own()
    stats = ExchangeStats()
    fetch = AvatarFetch(AvatarCache(tmp_path), stats)
    fetch.on_hello(hello(avatar))
    assert callable(mutate)
    assert transfer(fetch, mutate(list(avatar.chunks()))) is None
    assert reason in stats.refused


def test_a_transfer_joined_after_its_first_chunk_is_skipped_and_the_next_one_taken(tmp_path: Path) -> None:
    """Through an SFU an avatar goes out in rounds to everyone who asked: a participant that asked during a round
    skips the rest of it (counted, not a failure) and takes the next round whole."""
    avatar = own()
    stats = ExchangeStats()
    fetch = AvatarFetch(AvatarCache(tmp_path), stats)
    fetch.on_hello(hello(avatar), now_us=0)
    chunks = list(avatar.chunks())
    assert transfer(fetch, chunks[2:]) is None and not fetch.failed
    assert stats.refused == {"mid_transfer": len(chunks) - 2}
    assert fetch.retry_request(now_us=3_000_000) is not None, "nothing of it kept: ask again"
    package = transfer(fetch, chunks)
    assert package is not None and stats.fetched == 1


def test_oversized_and_unrequested_transfers_are_refused(tmp_path: Path) -> None:
    avatar = own()
    stats = ExchangeStats()
    fetch = AvatarFetch(AvatarCache(tmp_path), stats, max_bytes=20_000)
    fetch.on_hello(hello(avatar))
    assert transfer(fetch, list(avatar.chunks())) is None
    assert stats.refused.get("too_large") == 1
    stray = AvatarFetch(AvatarCache(tmp_path), stats)
    assert transfer(stray, list(avatar.chunks())) is None
    assert stats.refused.get("unexpected", 0) >= 2


def test_a_corrupted_cache_entry_is_ignored(tmp_path: Path) -> None:
    avatar = own()
    cache = AvatarCache(tmp_path)
    cache.put(avatar.sha256, avatar.data)
    assert cache.get(avatar.sha256) is not None
    cache.path_for(avatar.sha256).write_bytes(avatar.data[:-1] + b"x")
    assert cache.get(avatar.sha256) is None
    with pytest.raises(ValueError, match="sha256"):
        cache.put(avatar.sha256, avatar.data + b"x")


def test_from_path_reads_cavatar_bytes_and_zips_directories(tmp_path: Path) -> None:
    from codecav.assets.writer import write_avatar

    package = own().package
    file_path = write_avatar(package, tmp_path / "a.cavatar")
    dir_path = write_avatar(package, tmp_path / "a_dir")
    from_file = OwnAvatar.from_path(file_path)
    from_dir = OwnAvatar.from_path(dir_path)
    assert from_file.data == file_path.read_bytes()
    assert from_dir.sha256 == from_file.sha256  # deterministic zip of the same members


def test_default_cache_dir_follows_codecav_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODECAV_CACHE", str(tmp_path))
    assert AvatarCache().root == tmp_path / "avatars"


def test_the_cache_keeps_within_its_size_by_removing_the_least_recently_used(tmp_path: Path) -> None:
    """A stream of new (valid) packages from peers cannot fill the disk: past max_bytes the least recently used go."""
    avatars = [OwnAvatar.from_package(build_synthetic_avatar(seed=s, feature_size=16, mesh_resolution=(8, 12)))
               for s in (21, 22, 23)]
    size = max(len(a.data) for a in avatars)
    cache = AvatarCache(tmp_path, max_bytes=2 * size + size // 2)  # room for two
    first, second, third = avatars
    cache.put(first.sha256, first.data)
    cache.put(second.sha256, second.data)
    old = cache.path_for(first.sha256).stat().st_mtime - 10
    os.utime(cache.path_for(second.sha256), (old, old))  # second is the older one now...
    assert cache.get(first.sha256) is not None  # ...and first was just used
    (tmp_path / f".{third.sha256}.cavatar.tmp-1").write_bytes(b"left by a process killed mid-trial")
    os.utime(tmp_path / f".{third.sha256}.cavatar.tmp-1", (old - 7200, old - 7200))
    cache.put(third.sha256, third.data)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == sorted(f"{a.sha256}.cavatar" for a in (first, third)), kept
    assert cache.evicted == 1 and cache.get(second.sha256) is None
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= cache.max_bytes
