#!/usr/bin/env python3
"""Memory of the exporter under a flood of half-open connections (BENCHMARKS.md).

Starts `BINARY --demo` on a loopback port, opens N TCP connections that send half a
request line and then nothing, and prints the exporter's RSS before, at the peak, and
once the connections are closed. Loopback only; bounded in count and time.

    scripts/conn-flood.py target/release/cds-redis-backup-exporter [N] [extra flags...]
"""
import resource
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                yield line.split()[0].rstrip(":"), int(line.split()[1])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 9000
    extra = sys.argv[3:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--demo", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error", *extra],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard)),
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(2)
        before = dict(rss_kib(proc.pid))
        socks = []
        started = time.time()
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(1)
        for s in socks:
            try:
                s.send(b"GET /metrics HTTP/1.1\r\n")
            except OSError:
                pass
        time.sleep(2)
        peak = dict(rss_kib(proc.pid))
        for s in socks:
            s.close()
        time.sleep(12)  # past the 10 s header timeout
        after = dict(rss_kib(proc.pid))
        print(
            f"conn-flood: {n} half-open connections in {time.time() - started:.1f} s; "
            f"RSS before {before['VmRSS'] / 1024:.1f} MiB, with them {peak['VmRSS'] / 1024:.1f} MiB, "
            f"after {after['VmRSS'] / 1024:.1f} MiB; peak (VmHWM) {after['VmHWM'] / 1024:.1f} MiB"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
