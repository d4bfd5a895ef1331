"""A traffic-shaping HTTP/1.1 forwarding proxy for the cold-start benchmark.

Sits between boto3 and s3s-fs (tests/runtime/harness.py) and makes the local
server look like S3 seen from a Lambda function:

  * every response's first byte leaves the proxy no earlier than `ttfb` after
    the request was read (default 30 ms; if the upstream took longer, no
    extra wait);
  * response bodies are paced at `rate` bytes/s (default 85 MB/s = 85e6 B/s),
    shared by all connections (one link timeline: parallel GETs split the
    rate between them, as they share a function's network link). While any
    body is in flight the link's timeline is not reset, so a chunk the
    upstream delivered late goes out at once until the transfer is back on
    the line: a body takes max(size / rate, the upstream's own time), not
    their sum.

Requests are forwarded unchanged: the Host header is passed through exactly
as the client sent it (SigV4 signs it), like harness.FaultProxy does; bodies
are streamed (never held whole in memory) when the upstream sends a
Content-Length.

As a program (the benchmark runs it in its own process so that the proxy's
work does not share a GIL with anything it measures):

  python3 shaping_proxy.py --upstream-port PORT [--ttfb-ms 30] [--rate-mb 85] [--log FILE]

prints `listening PORT` on its first stdout line, then serves until killed.
Its own counters (requests, bytes) go to stderr on SIGTERM; with --log, one
JSON line per request (method, path, status, body bytes, ms to the first
byte and to the last) is appended to FILE.
"""

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "runtime"))
import harness  # noqa: E402  (the test harness's proxy server)

# Hop-by-hop headers (not forwarded), as in tests/runtime/harness.py.
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
        "trailer", "upgrade", "expect"}
CHUNK = 128 << 10


class Pacer:
    """The link: one timeline at `rate` bytes/s shared by every body in
    flight. begin() starts a body (the timeline restarts at now if the link
    was idle), take(n) reserves n bytes on it and sleeps until they have
    "arrived", end() finishes the body."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.lock = threading.Lock()
        self.next_free = 0.0
        self.active = 0

    def begin(self):
        with self.lock:
            if self.active == 0:
                self.next_free = max(self.next_free, time.monotonic())
            self.active += 1

    def end(self):
        with self.lock:
            self.active -= 1

    def take(self, n):
        if self.rate <= 0:
            return
        with self.lock:
            self.next_free += n / self.rate
            until = self.next_free
        delay = until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class ShapingProxy:
    def __init__(self, upstream_port, ttfb=0.030, rate=85e6, upstream_host="127.0.0.1",
                 port=0, log=None):
        self.upstream = (upstream_host, upstream_port)
        self.log = log                      # a text file (line-buffered) or None
        self.ttfb = ttfb
        self.pacer = Pacer(rate)
        self.lock = threading.Lock()
        self.requests = 0
        self.body_bytes = 0
        self.server = harness.proxy_server(self._handle, port)
        self.port = self.server.server_address[1]
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        t_req = time.monotonic()
        with self.lock:
            self.requests += 1
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.headers.items():
                if k.lower() not in _HOP:
                    conn.putheader(k, v)     # Host included, byte for byte
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            headers = resp.getheaders()
            lower = dict((k.lower(), v) for k, v in headers)
            clen = lower.get("content-length")
            streamed = h.command != "HEAD" and clen is not None and "chunked" not in \
                lower.get("transfer-encoding", "").lower()
            data = b""
            if h.command == "HEAD":
                clen = clen or "0"
            elif not streamed:
                data = resp.read()            # chunked or close-delimited: buffer it
                clen = str(len(data))
            wait = t_req + self.ttfb - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t_first = time.monotonic()
            h.send_response_only(resp.status, resp.reason)
            for k, v in headers:
                if k.lower() not in _HOP and k.lower() != "content-length":
                    h.send_header(k, v)
            h.send_header("Content-Length", clen)
            h.end_headers()
            if h.command == "HEAD":
                return
            sent = 0
            self.pacer.begin()
            try:
                sent = self._send_body(h, resp, streamed, clen, data)
            finally:
                self.pacer.end()
            with self.lock:
                self.body_bytes += sent
                if self.log is not None:
                    t_end = time.monotonic()
                    self.log.write(json.dumps({
                        "method": h.command, "path": h.path, "status": resp.status,
                        "bytes": sent, "ttfb_ms": round((t_first - t_req) * 1000, 2),
                        "total_ms": round((t_end - t_req) * 1000, 2)}) + "\n")
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        finally:
            conn.close()

    def _send_body(self, h, resp, streamed, clen, data):
        sent = 0
        if streamed:
            remaining = int(clen)
            while remaining > 0:
                chunk = resp.read(min(CHUNK, remaining))
                if not chunk:
                    h.close_connection = True    # upstream cut the body short
                    break
                remaining -= len(chunk)
                self.pacer.take(len(chunk))
                h.wfile.write(chunk)
                sent += len(chunk)
        else:
            for i in range(0, len(data), CHUNK):
                chunk = data[i:i + CHUNK]
                self.pacer.take(len(chunk))
                h.wfile.write(chunk)
                sent += len(chunk)
        return sent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttfb-ms", type=float, default=30.0)
    ap.add_argument("--rate-mb", type=float, default=85.0, help="MB/s (10^6 bytes), 0 = unlimited")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    a = ap.parse_args(argv)
    log = open(a.log, "a", buffering=1) if a.log else None
    proxy = ShapingProxy(a.upstream_port, ttfb=a.ttfb_ms / 1000.0, rate=a.rate_mb * 1e6,
                         upstream_host=a.upstream_host, port=a.port, log=log)
    done = threading.Event()

    def stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    proxy.start()
    sys.stdout.write("listening %d\n" % proxy.port)
    sys.stdout.flush()
    while not done.wait(1.0):
        if os.getppid() == 1:          # the benchmark died without stopping us
            break
    sys.stderr.write("shaping proxy: %d requests, %d body bytes\n"
                     % (proxy.requests, proxy.body_bytes))
    proxy.close()


if __name__ == "__main__":
    main()
