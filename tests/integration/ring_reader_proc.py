"""Run in a separate process by test_shm: hammer a daemon's ring with reads and report.

    python -m tests.integration.ring_reader_proc RING_NAME READS OUT.json
"""

from __future__ import annotations

import json
import sys
import time

from facecast.client.ring_reader import RingReader, RingReadError
from facecast.render.stamp import stamp_is_consistent


def main() -> None:
    name, reads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seen, torn, retries, done = set(), 0, 0, 0
    details: list[str] = []
    deadline = time.monotonic() + 120
    with RingReader(name) as ring:
        while done < reads and time.monotonic() < deadline:
            try:
                frame = ring.read_latest()
            except RingReadError:
                retries += 1
                continue
            if frame is None:
                continue
            done += 1
            if not stamp_is_consistent(frame.image):
                torn += 1
                words = frame.image.reshape(-1).view("<u8")
                details.append(f"pixels: slot {frame.slot} lock {frame.slot_seq} seq {frame.frame_seq}: "
                               f"{len(set(words.tolist()))} distinct words, first differs at "
                               f"{int((words != words[0]).argmax())} of {words.size}")
            # The slot's metadata must belong to the same frame as its pixels.
            x = float(frame.image[0, 0, :4].view("<f4")[0])
            if round(x * 100) != frame.frame_seq % 10000:
                torn += 1
                details.append(f"meta: slot {frame.slot} lock {frame.slot_seq} seq {frame.frame_seq} stamp {x}")
            seen.add(frame.frame_seq)
    with open(out, "w") as f:
        json.dump({"reads": done, "torn": torn, "distinct": len(seen), "retries": retries,
                   "details": details[:10]}, f)


if __name__ == "__main__":
    main()
