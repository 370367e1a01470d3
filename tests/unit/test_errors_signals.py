"""A terminated command (kill, timeout, a scheduler's preemption) cleans up like an interrupted one."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_runs_cleanup_and_exits_as_interrupted(tmp_path):
    marker = tmp_path / "half-written.tmp"
    program = f"""
import pathlib, sys, time
from gfpgan.utils.errors import run_main

def body():
    temporary = pathlib.Path({str(marker)!r})
    temporary.write_text("partial")
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        temporary.unlink()

sys.exit(run_main(body))
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", program], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert marker.exists()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not marker.exists()  # the finally block ran
