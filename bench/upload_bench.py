"""Upload benchmark: a 1 GiB CSV through POST /api/v1/datasets/{id}/versions/ on a real server.

Makes its own data and server, then measures in this one script:

- peak RSS growth of the server process while it receives, hashes, checks and stores the file
  (sampled from /proc every 10 ms);
- the server's hashing throughput (bytes / time spent in sha256 while streaming, which the server
  reports in the ``Server-Timing`` response header), beside ``sha256sum`` on the same file;
- the end-to-end upload throughput (request sent to 201 received), for the record.

    .venv/bin/python bench/upload_bench.py [--size-mb 1024] [--keep]

The server is gunicorn (one sync worker) on 127.0.0.1 with its own SQLite database, media folder
and broker folder under /tmp/gv_upload_bench, so nothing is shared with other work on the machine.
"""

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
WORK = Path("/tmp/gv_upload_bench")
CSV_PATH = Path("/tmp/gv_upload_bench.csv")
CHUNK = 1024 * 1024


def make_csv(path: Path, size: int) -> None:
    """A CSV of about ``size`` bytes: 8 columns of ids, numbers, text and dates."""
    if path.exists() and abs(path.stat().st_size - size) < 4 * CHUNK:
        return
    rows = []
    for i in range(40_000):
        rows.append(
            f"{i},{i * 7 % 9973},{(i * 31) % 1000 / 7:.4f},customer_{i % 5000},"
            f"{'FR' if i % 3 else 'DE'},2026-{1 + i % 12:02d}-{1 + i % 28:02d},"
            f'"note, with comma {i % 97}",{i % 2 == 0}\n'
        )
    block = "".join(rows).encode()
    with path.open("wb") as fh:
        fh.write(b"id,score,ratio,customer,country,day,note,flag\n")
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(p) for p in text]
    return out


class Sampler(threading.Thread):
    """Samples a process's RSS until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)


def request(port: int, method: str, path: str, token: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request(method, path, body=body, headers={"Authorization": f"Token {token}", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def upload(port: int, token: str, dataset_id: int, path: Path):
    """Stream a multipart body from disk: never more than one chunk of it in this process."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
    conn.putrequest("POST", f"/api/v1/datasets/{dataset_id}/versions/")
    conn.putheader("Authorization", f"Token {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            conn.send(block)
    conn.send(tail)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", action="store_true", help="keep the CSV and the server's folder")
    args = parser.parse_args()
    size = args.size_mb * CHUNK

    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "tmp").mkdir(parents=True)
    print(f"Writing a {args.size_mb} MiB CSV to {CSV_PATH} ...", flush=True)
    make_csv(CSV_PATH, size)
    size = CSV_PATH.stat().st_size

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GOUVERNAIL_VAR_DIR": str(WORK),
        "DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}",
        "MEDIA_ROOT": str(WORK / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(WORK / "tmp"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",  # profiling is queued and left alone: this measures the upload
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; User.objects.create_user('bench')",
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )
    out = subprocess.run(
        [*manage, "drf_create_token", "bench"], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    token = out.split()[2]

    port = free_port()
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--timeout",
            "1800",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        for _ in range(200):
            try:
                resp, _ = request(port, "GET", "/api/v1/datasets/", token)
                if resp.status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        worker = children(server.pid)[0]
        rss_idle = rss_kib(worker)

        resp, data = request(
            port,
            "POST",
            "/api/v1/datasets/",
            token,
            json.dumps({"namespace": "bench://upload", "name": "big_csv"}).encode(),
            {"Content-Type": "application/json"},
        )
        dataset_id = json.loads(data)["id"]
        # Warm-up: a 4 MiB upload runs every code path once (pyarrow's CSV reader and its pools),
        # so that "over warm" is what one more upload costs, and "over idle" includes first use.
        small = WORK / "warmup.csv"
        make_csv(small, 4 * CHUNK)
        resp, data = upload(port, token, dataset_id, small)
        assert resp.status == 201, data[:500]
        rss_warm = rss_kib(worker)

        sampler = Sampler(worker)
        sampler.start()
        started = time.perf_counter()
        resp, data = upload(port, token, dataset_id, CSV_PATH)
        elapsed = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        assert resp.status == 201, data[:500]
        body = json.loads(data)
        timing = {
            part.split(";dur=")[0].strip(): float(part.split(";dur=")[1]) / 1000
            for part in resp.getheader("Server-Timing", "").split(",")
        }
        hash_s = timing["sha256"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    # sha256sum on the same file (read once before so both sides read from the page cache).
    subprocess.run(["sha256sum", str(CSV_PATH)], check=True, capture_output=True)
    t = time.perf_counter()
    ref = subprocess.run(
        ["sha256sum", str(CSV_PATH)], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    sha256sum_s = time.perf_counter() - t
    assert ref == body["checksum"], "the server's checksum differs from sha256sum's"

    mib = size / CHUNK
    growth_idle = (sampler.peak - rss_idle) / 1024
    growth_warm = (sampler.peak - rss_warm) / 1024
    print()
    print(f"file: {size:,} bytes ({mib:.0f} MiB); checksum matches sha256sum: {ref[:16]}...")
    print(f"load average: {os.getloadavg()} on {os.cpu_count()} CPUs (other work shares them)")
    print(
        f"server RSS: idle {rss_idle / 1024:.0f} MiB, warm {rss_warm / 1024:.0f} MiB, "
        f"peak during upload {sampler.peak / 1024:.0f} MiB"
    )
    print(
        f"peak RSS growth: {growth_warm:.1f} MiB over warm, {growth_idle:.1f} MiB over idle "
        f"(target <= 100 MB: {'MET' if growth_idle * 1.048576 <= 100 else 'MISSED'})"
    )
    print(f"sha256sum: {sha256sum_s:.2f} s = {mib / sha256sum_s:.0f} MiB/s")
    print(
        f"server hashing while streaming: {hash_s:.2f} s = {mib / hash_s:.0f} MiB/s "
        f"-> {sha256sum_s / hash_s:.0%} of sha256sum (target >= 80%: "
        f"{'MET' if sha256sum_s / hash_s >= 0.8 else 'MISSED'})"
    )
    print(
        f"end to end (send, parse multipart, hash, check every row, store): {elapsed:.1f} s = "
        f"{mib / elapsed:.0f} MiB/s -> {sha256sum_s / elapsed:.0%} of sha256sum"
    )
    print(
        f"server time: receiving the body {timing['receive']:.1f} s (of which hashing {hash_s:.1f} s), "
        f"checking every row and storing {timing['check-and-store']:.1f} s"
    )
    if not args.keep:
        CSV_PATH.unlink(missing_ok=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
