"""The README's quick start: `make demo` reconciles every sample Club and processes a video."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from club_devstack.operator import REPO

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)


def test_make_demo_brings_every_sample_club_to_ready_and_a_videojob_to_succeeded() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLUB_STACK_FILE"}  # a stack of its own
    done = subprocess.run(
        [sys.executable, "-m", "club_devstack.demo", "--no-wait"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,  # a first run builds the images
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-5000:], done.stderr[-3000:])
    for club in ("riverside-fc", "meadowbank-rovers", "harbour-athletic", "northgate-united"):
        assert re.search(rf"^{club}\s+Ready\b", out, re.MULTILINE), out[-5000:]
    progress = [int(p) for p in re.findall(r"riverside-fc-demo-match\s+Running\s+(\d+)%", out)]
    assert progress, out[-5000:]
    assert progress == sorted(progress)
    assert re.search(r"riverside-fc-demo-match\s+Succeeded\s+100%", out)
    assert re.search(r"master playlist  clubs/[0-9a-f-]{36}/videos/[0-9a-f-]{36}/hls/master.m3u8", out)
    assert "clip opening-goal" in out
    assert "Everything is up" in out
