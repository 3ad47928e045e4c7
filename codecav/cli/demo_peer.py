"""One participant process of `codecav demo`: `python -m codecav.cli.demo_peer CONFIG.json`.

CONFIG.json holds the fields of `codecav.runtime.demo_peer.DemoPeerConfig`. The process runs
`codecav.runtime.demo_peer.run_peer` and talks to the demo through this channel:

- stdout carries only events, one JSON object per line (UTF-8, '\\n'-terminated, flushed per line), each with a
  `type` key and the fields of its dataclass in `codecav.runtime.demo_peer`:

      {"type":"joined","room":"demo-1a2b3c","avatar_id":"ada","source":"clip 0 (HMC + audio + gaze encoded live)"}
      {"type":"remote","remote":"bob","avatar_id":"ben"}
      {"type":"done","frames_rendered":88,"frames_sent":90,"frames_lost":0}
      {"type":"failed","message":"..."}

  in that order; `failed` may come at any point and is the last line. Anything else a library writes to the
  process's standard output (C libraries included) is redirected to stderr, so it cannot break the channel.
- stdin carries one line from the demo, `start`, once every participant has reported `remote`: each waits for it
  before it starts sending and rendering, so all talk for the same time and none leaves while another is still
  fetching its avatar. End of input instead of `start` (the demo went away) fails the participant.
- stderr carries logging (the `codecav` loggers at INFO, others at WARNING) and, on a user error, one line
  `codecav demo peer: MESSAGE`; the demo keeps it in out/peers/NAME/stderr.log.
- Exit status 0 after `done`; 2 after `failed` (a CodecavError: bad configuration, unreachable signaling,
  invalid avatar ...); anything else is a crash, its traceback on stderr.

The reader is `codecav.runtime.call_demo`: it parses each line with `parse_event` and reports a line that is not
an event as one progress line naming the problem.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

USAGE = "usage: python -m codecav.cli.demo_peer CONFIG.json"
"""What a wrong argument list prints on stderr."""


def run(config_path: Path, channel: TextIO) -> int:
    """Run the participant of `config_path`, writing its events to `channel` as lines of JSON; exit status."""
    from codecav.errors import CodecavError
    from codecav.runtime.demo_peer import (
        DemoPeerError,
        DemoPeerEvent,
        PeerFailed,
        event_json,
        load_config,
        run_peer,
    )

    def write(event: DemoPeerEvent) -> None:
        channel.write(event_json(event) + "\n")
        channel.flush()

    def wait_start() -> None:
        line = sys.stdin.readline()
        if line.strip() != "start":
            raise DemoPeerError(f"the demo sent {line.strip()!r} instead of 'start' on stdin; run it through "
                                "`codecav demo`")

    try:
        write(run_peer(load_config(config_path), write, wait_start=wait_start))
    except CodecavError as exc:
        write(PeerFailed(str(exc)))
        print(f"codecav demo peer: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the participant process: logging to stderr, the event channel on the real stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("codecav").setLevel(logging.INFO)
    # Keep the real stdout for events only: the channel writes to a duplicate of it, and fd 1 (where a stray
    # print or a C library would write) now goes to stderr.
    sys.stdout.flush()
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", newline="\n")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return run(Path(args[0]), channel)
    finally:
        channel.close()


if __name__ == "__main__":
    raise SystemExit(main())
