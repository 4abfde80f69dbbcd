"""Start the real daemon as a subprocess on a free loopback port, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class DaemonProcess:
    proc: subprocess.Popen
    endpoint: str
    log_path: Path

    def rss_bytes(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"daemon did not exit within {timeout}s of signal {sig}\n{self.log()}")
        return self.proc.returncode


def start_daemon(workdir: Path, store_root: Path, *args: str, bind: str = "tcp://127.0.0.1:0",
                 timeout: float = 60.0) -> DaemonProcess:
    ready = workdir / "daemon.ready"
    log_path = workdir / "daemon.log"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", bind, "--store", str(store_root),
           "--ready-file", str(ready), *args]
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=dict(os.environ))
    log_file.close()
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode} before listening:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"daemon not listening after {timeout}s:\n{log_path.read_text()}")
        time.sleep(0.05)
    return DaemonProcess(proc=proc, endpoint=ready.read_text().strip(), log_path=log_path)
