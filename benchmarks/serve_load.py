"""Bounded load test of ``tinct serve`` on 127.0.0.1 (issue 6).

Starts the server itself in a subprocess on a free loopback port, sends a fixed number of
requests per case (never more, and no new request after ``--max-seconds``), stops the server and
prints, per upload size (a 256 px photo, a 2 MP photo) and concurrency (1, 4, 16 clients):
requests/s, p50/p95/p99 latency of the answered images and the error counts. A last case fills
a small queue (``queue_size=2``) with 16 clients uploading 2 MP photos, to show that the
requests beyond the queue get 503 + Retry-After at once instead of waiting or timing out.

    python benchmarks/serve_load.py [--requests 32] [--requests-2mp 16] [--clients 1,4,16]
                                    [--torch-threads 1] [--max-seconds 120]

Only 127.0.0.1 is ever contacted. Needs the ``serve`` extra (fastapi, uvicorn, python-multipart) and httpx.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tinct.registry import DEFAULT_MODEL

DEMO = Path(__file__).resolve().parents[1] / "tinct" / "demo" / "1909Chicago.jpg"
HOST = "127.0.0.1"


def photo(width: int, height: int) -> bytes:
    """A gray JPEG of the demo photo at width x height (quality 90)."""
    buf = io.BytesIO()
    with Image.open(DEMO) as im:
        im.convert("L").resize((width, height), Image.BICUBIC).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """``run_server`` in a subprocess on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, torch_threads: int, log: Path, **limits) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        args = ", ".join(f"{k}={v!r}" for k, v in limits.items())
        code = (
            "from tinct.server import run_server; "
            f"run_server(host={HOST!r}, port={self.port}, device='cpu', log_level='warning', {args})"
        )
        env = {**os.environ, "OMP_NUM_THREADS": str(torch_threads), "MKL_NUM_THREADS": str(torch_threads)}
        self._log = open(log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}; see {self._log.name}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("the server did not become ready within 180 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@dataclass
class Result:
    """Outcome of one case: latencies (s) of the answered images, of the 503s, other failures."""

    ok: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    busy_without_retry_after: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.ok) + len(self.busy) + sum(self.errors.values())


def run_case(url: str, payload: bytes, clients: int, requests: int, max_seconds: float, timeout: float) -> Result:
    """``clients`` threads send ``payload`` until ``requests`` are sent or ``max_seconds`` pass."""
    result = Result()
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        with httpx.Client(timeout=timeout) as http:
            while next(counter) < requests and time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{url}/api/v1/colorize", files={"file": ("photo.jpg", payload, "image/jpeg")})
                    status = str(r.status_code)
                except httpx.HTTPError as e:
                    status = type(e).__name__
                dt = time.perf_counter() - t0
                with lock:
                    if status == "200":
                        result.ok.append(dt)
                    elif status == "503":
                        result.busy.append(dt)
                        result.busy_without_retry_after += "retry-after" not in r.headers
                    else:
                        result.errors[status] = result.errors.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - t0
    return result


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) * 1000:.0f}" if values else "-"


def row(label: str, clients: int, r: Result) -> str:
    errors = ",".join(f"{k}:{v}" for k, v in sorted(r.errors.items())) or "0"
    rps = len(r.ok) / r.wall if r.wall else 0.0
    return (
        f"{label:<8} {clients:>7} {r.sent:>5} {len(r.ok):>4} {len(r.busy):>4} {errors:>7} {r.wall:>7.1f} "
        f"{rps:>6.2f} {ms(r.ok, 50):>7} {ms(r.ok, 95):>7} {ms(r.ok, 99):>7}"
    )


HEADER = (
    f"{'upload':<8} {'clients':>7} {'sent':>5} {'ok':>4} {'503':>4} {'errors':>7} {'wall s':>7} "
    f"{'img/s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=32, help="requests per case with the 256 px photo")
    ap.add_argument("--requests-2mp", type=int, default=16, help="requests per case with the 2 MP photo")
    ap.add_argument("--clients", default="1,4,16", help="concurrent clients, comma-separated")
    ap.add_argument("--torch-threads", type=int, default=1, help="OMP/torch threads of the server process")
    ap.add_argument("--queue-size", type=int, default=32, help="server queue for the throughput cases")
    ap.add_argument("--max-seconds", type=float, default=120, help="no new request after this, per case")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="the server's model (default: tinct's default)")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    uploads = {"256px": photo(320, 256), "2MP": photo(1632, 1224)}
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"tinct serve load test, {when}, {platform.platform()}, python {platform.python_version()}")
    print(
        f"machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); server on {HOST}, "
        f"model {args.model}, device cpu, torch threads {args.torch_threads}, 1 worker process, 1 inference thread"
    )
    print("uploads: " + ", ".join(f"{k} = {len(v) / 1e3:.0f} kB gray JPEG" for k, v in uploads.items()))
    with tempfile.TemporaryDirectory() as tmp:
        limits = {"model": args.model, "queue_size": args.queue_size, "timeout_s": 600.0}
        print(f"\nthroughput (queue_size={args.queue_size}: every request is admitted and waits its turn)")
        print(HEADER)
        with Server(args.torch_threads, Path(tmp) / "server.log", **limits) as srv:
            for label, payload in uploads.items():
                run_case(srv.url, payload, 1, 1, args.max_seconds, 600)  # warm-up, not counted
                n = args.requests if label == "256px" else args.requests_2mp
                for c in clients:
                    print(row(label, c, run_case(srv.url, payload, c, n, args.max_seconds, 600)), flush=True)

        print("\nqueue full (queue_size=2, 16 clients, 2 MP uploads, no client-side retry)")
        small = {**limits, "queue_size": 2}
        with Server(args.torch_threads, Path(tmp) / "server-small.log", **small) as srv:
            r = run_case(srv.url, uploads["2MP"], 16, 48, args.max_seconds, 600)
        print(HEADER)
        print(row("2MP", 16, r))
        print(
            f"503 answers: {len(r.busy)}, latency p50 {ms(r.busy, 50)} ms, p99 {ms(r.busy, 99)} ms, "
            f"max {ms(r.busy, 100)} ms; without Retry-After: {r.busy_without_retry_after}; "
            f"timeouts/other errors: {sum(r.errors.values())}"
        )


if __name__ == "__main__":
    main()
