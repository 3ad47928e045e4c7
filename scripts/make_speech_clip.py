"""Build the real-speech clip of `benchmarks/drivers.py` (lipsync_jaw_corr_real): eight sentences of President
Obama's White House Weekly Addresses, each with its own recorded sound, joined into one 640x360 video.

Run once, from the repository root, with the GitHub snapshot of musooff/obama (a project that cut Weekly
Addresses into sentence clips) as a git mirror (no work tree needed):

    .venv/bin/python scripts/make_speech_clip.py --repo /work/.mirror/musooff+obama/repo

It reads the clips with `git show <commit>:<path>`, joins them with the ffmpeg that imageio-ffmpeg ships (each
scaled to 640x360 at 30 fps, its sound to 44.1 kHz mono AAC), and writes `benchmarks/media/` (the clip and
NOTICE.md with the sources, the licence and the digest). Only whole-sentence clips with their recorded sound are
used: the snapshot's word clips, its stitched "Obama*" and "Trump*" videos and its silent clips are left out.
The benchmark never reads the snapshot; the project cannot reach GitHub at build or run time.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg

MEDIA = Path(__file__).resolve().parents[1] / "benchmarks" / "media"
CLIP_NAME = "obama_weekly_address_sentences.mp4"
COMMIT = "9712b709e35875db9529a0ad052798bdd3a6999f"
SENTENCES = (
    "We are done for current bad performance/WeSentenceFolder/The President: We all know the past few years have "
    "been difficult for .mp4",
    "We are done for current bad performance/WeSentenceFolder/in town halls and in the places they work. We talked "
    "about their struggles, .mp4",
    "test_video_sentences/about the very real and very serious challenges their families face every day: /about "
    "the very real and very serious challenges their families face every day: .mp4",
    "We are done for current bad performance/WeSentenceFolder/But here's the thing: We have the answers to these "
    "problems. .mp4",
    "actually help working families get ahead./actually help working families get ahead. .mp4",
    "test_video_sentences/about the progress we expect to make in each of these areas. /about the progress we "
    "expect to make in each of these areas. .mp4",
    "test_video_sentences/a bad situation could become dramatically worse. /a bad situation could become "
    "dramatically worse. .mp4",
    "We are done for current bad performance/WeSentenceFolder/continues, and we're learning more about the suspect. "
    "We know that he traveled to Yemen, .mp4",
)
"""The snapshot's whole-sentence clips that carry their recorded sound, in the order joined."""

NOTICE = """# Real-speech clip for `benchmarks/drivers.py`

`{clip}` ({size} bytes, sha256 `{digest}`): eight sentences of President Barack Obama's White House Weekly
Addresses (2009-2012), each with its recorded sound, joined in this order and scaled to 640x360 at 30 fps, sound
as 44.1 kHz mono AAC. About 27 s. Used only as real recorded speech with a matching face video: the audio driver
hears it, the webcam driver watches it, and `lipsync_jaw_corr_real` correlates the two jaws. Never trained on.

**Licence.** The Weekly Addresses are works of the United States Government (made by White House staff as part of
their official duties), so they are in the public domain in the United States (17 U.S.C. 105); whitehouse.gov
said of them at the time: "Pursuant to federal law, government-produced materials appearing on this site are not
copyright protected." The sentence cuts come from the public GitHub repository musooff/obama (commit
`{commit}`), whose README says the videos are the White House YouTube channel's Weekly Addresses cut into
sentences; cutting adds no copyright. The repository states no licence of its own, and nothing of it but these
cuts of public-domain footage is used here.

**Made by** `scripts/make_speech_clip.py --repo <git mirror of musooff/obama>`, from these paths:

{paths}
"""


def build(repo: Path, out_dir: Path = MEDIA) -> Path:
    """Join SENTENCES from the git mirror `repo` into out_dir/CLIP_NAME and write out_dir/NOTICE.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        inputs: list[str] = []
        for i, path in enumerate(SENTENCES):
            data = subprocess.run(["git", "-C", str(repo), "show", f"{COMMIT}:{path}"], check=True,
                                  capture_output=True).stdout
            part = Path(tmp) / f"{i}.mp4"
            part.write_bytes(data)
            inputs += ["-i", str(part)]
        n = len(SENTENCES)
        scale = "".join(f"[{i}:v:0]scale=640:360,fps=30,setsar=1[v{i}];[{i}:a:0]aresample=44100,"
                        f"aformat=channel_layouts=mono[a{i}];" for i in range(n))
        joined = "".join(f"[v{i}][a{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][a]"
        clip = out_dir / CLIP_NAME
        subprocess.run([ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex", scale + joined, "-map", "[v]",
                        "-map", "[a]", "-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(clip)], check=True)
    data = clip.read_bytes()
    (out_dir / "NOTICE.md").write_text(NOTICE.format(
        clip=CLIP_NAME, size=len(data), digest=hashlib.sha256(data).hexdigest(), commit=COMMIT,
        paths="\n".join(f"{i + 1}. `{p}`" for i, p in enumerate(SENTENCES))))
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="git mirror of github:musooff/obama")
    args = parser.parse_args()
    clip = build(args.repo)
    print(f"{clip} ({clip.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
