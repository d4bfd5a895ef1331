"""Test harness for the runtime importer: a real S3-compatible server
(s3s-fs), a fault-injecting HTTP proxy in front of it, and a builder for
task roots, EFS trees, S3 bundles and catalogues whose handler runs in a
`python3 -I -S` subprocess (tests/support/lambda_driver.py).

Locating the tools:
  s3s-fs  env CAIOS_S3S_FS, else `s3s-fs` on PATH, else /tmp/s3s/bin/s3s-fs
          (cargo install s3s-fs@0.14.1 --features binary --locked --root /tmp/s3s)
  boto3   env CAIOS_TEST_PYLIBS (folders, os.pathsep-separated, holding boto3 and
          its dependencies), else the folder of an importable boto3, else
          /tmp/rt-pylibs (pip install --target /tmp/rt-pylibs boto3)
"""

import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUNTIME = os.path.join(REPO, "src", "runtime")
DRIVER = os.path.join(REPO, "tests", "support", "lambda_driver.py")

ACCESS_KEY = "K"
SECRET_KEY = "S"
BUCKET = "caios-test"
REGION = "us-east-1"


# ---------------------------------------------------------------------------
# Locating s3s-fs and boto3


def find_s3s_fs():
    env = os.environ.get("CAIOS_S3S_FS")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("s3s-fs")
    if found:
        return found
    default = "/tmp/s3s/bin/s3s-fs"
    return default if os.access(default, os.X_OK) else None


def find_pylibs():
    """(folders to put on sys.path for boto3, None) or (None, why not)."""
    env = os.environ.get("CAIOS_TEST_PYLIBS")
    if env:
        candidates = [([d for d in env.split(os.pathsep) if d], "CAIOS_TEST_PYLIBS")]
    else:
        candidates = []
        try:
            import boto3  # noqa: F401
            candidates.append(([os.path.dirname(os.path.dirname(os.path.abspath(boto3.__file__)))],
                               "the importable boto3"))
        except ImportError:
            pass
        candidates.append((["/tmp/rt-pylibs"], "/tmp/rt-pylibs"))
    why = []
    for dirs, origin in candidates:
        if not any(os.path.isdir(os.path.join(d, "boto3")) for d in dirs):
            why.append("%s (%s): no boto3 there" % (origin, os.pathsep.join(dirs)))
            continue
        # The handler subprocess runs `python3 -I -S` with only these folders added.
        check = subprocess.run(
            [sys.executable, "-I", "-S", "-c",
             "import sys; sys.path[:0] = %r; import boto3, botocore.config" % (dirs,)],
            capture_output=True, text=True)
        if check.returncode == 0:
            return dirs, None
        err = (check.stderr.strip().splitlines() or ["?"])[-1]
        why.append("%s (%s): boto3 does not import with %s: %s"
                   % (origin, os.pathsep.join(dirs), sys.version.split()[0], err))
    return None, "; ".join(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# The S3 server


def _die_with_parent():
    """Linux: the server gets SIGTERM if the test process dies without cleaning up."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


class S3Server:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = root
        self.port = None
        self.proc = None
        self.log_path = os.path.join(root, "..", "s3s-fs.log")

    def start(self):
        last = None
        for _ in range(5):            # a free port can be taken between bind and listen
            self.port = free_port()
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [self.binary, "--host", "127.0.0.1", "--port", str(self.port),
                 "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, self.root],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            log.close()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError as e:
                    last = e
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("s3s-fs did not start (%s); log: %s" % (last, self.log_path))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


# ---------------------------------------------------------------------------
# The fault-injecting proxy


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
        "trailer", "upgrade", "expect"}


def proxy_server(handle, port=0):
    """A threaded HTTP/1.1 server on 127.0.0.1 that hands every request, of
    any method, to `handle(request_handler)`; not started."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            handle(self)

        do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


class FaultProxy:
    """HTTP/1.1 proxy between boto3 and s3s-fs. Faults apply to GET requests
    whose path contains `match` (all GETs when match is None):

      pass         forward unchanged
      500          answer the next `count` matching GETs with HTTP 500 InternalError
      stall        read the request, never answer (until the proxy is reset)
      drip         answer headers at once, then the body one byte every `interval` s
      delay        forward, after sleeping `interval` s

    `log` records (method, path, action) of every request."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.reset()
        self.server = proxy_server(self._handle)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def reset(self):
        with self.lock:
            self.release.set()
            self.release = threading.Event()
            self.mode, self.count, self.match, self.interval = "pass", 0, None, 0.0
            self.log = []

    def set(self, mode, count=0, match=None, interval=0.0):
        with self.lock:
            self.mode, self.count, self.match, self.interval = mode, count, match, interval

    def gets(self, needle=""):
        with self.lock:
            return [p for (m, p, a) in self.log if m == "GET" and needle in p]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _decide(self, method, path):
        with self.lock:
            action = "pass"
            if method == "GET" and (self.match is None or self.match in path):
                if self.mode == "500":
                    if self.count > 0:
                        self.count -= 1
                        action = "500"
                elif self.mode in ("stall", "drip", "delay"):
                    action = self.mode
            self.log.append((method, path, action))
            return action, self.interval, self.release

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        action, interval, release = self._decide(h.command, h.path)
        if action == "500":
            data = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                    b'<Message>injected by the test proxy</Message></Error>')
            h.send_response_only(500, "Internal Server Error")
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if action == "stall":
            release.wait(120)
            h.close_connection = True
            return
        if action == "delay":
            time.sleep(interval)
        status, reason, headers, data = self._forward(h, body)
        h.send_response_only(status, reason)
        for k, v in headers:
            if k.lower() not in _HOP and k.lower() != "content-length":
                h.send_header(k, v)
        if h.command == "HEAD":
            clen = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
        else:
            clen = str(len(data))
        h.send_header("Content-Length", clen)
        h.end_headers()
        if h.command == "HEAD":
            return
        if action == "drip":
            for i in range(len(data)):
                if release.wait(interval):
                    h.close_connection = True
                    return
                h.wfile.write(data[i:i + 1])
                h.wfile.flush()
        else:
            h.wfile.write(data)

    def _forward(self, h, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.headers.items():
                if k.lower() not in _HOP:
                    conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# S3 client for the test process


def client_env(home, endpoint=None, **extra):
    """The environment of a process that talks to the test S3 server: the
    test keys and region, no shared config or instance metadata (nothing of
    the machine's own AWS setup leaks in), HOME in a temporary folder."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return env


def s3_client(pylibs, endpoint):
    for d in reversed(pylibs):
        if d not in sys.path:
            sys.path.insert(0, d)
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION,
                        config=Config(s3={"addressing_style": "path"}))


# ---------------------------------------------------------------------------
# Bundles and units


def make_zip(members):
    """members: list of (name, data: bytes|str|None for a folder, mode). Deterministic."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            if data is None:
                info.external_attr = ((0o040000 | (mode or 0o755)) << 16) | 0x10
                zf.writestr(info, b"")
                continue
            if isinstance(data, str):
                data = data.encode()
            info.external_attr = (0o100000 | (mode or 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Result:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.results = []
        self.errors = []
        self.init_error = None
        self.init_elapsed = None
        self.emf_lines = []
        self.compiled = []
        for line in self.stdout.splitlines():
            if line.startswith("CAIOS-TEST RESULT "):
                self.results.append(json.loads(line[len("CAIOS-TEST RESULT "):]))
            elif line.startswith("CAIOS-TEST ERROR "):
                self.errors.append(json.loads(line[len("CAIOS-TEST ERROR "):]))
            elif line.startswith("CAIOS-TEST COMPILED "):
                self.compiled = json.loads(line[len("CAIOS-TEST COMPILED "):])
            elif line.startswith("CAIOS-TEST INIT-ERROR "):
                doc = json.loads(line[len("CAIOS-TEST INIT-ERROR "):])
                self.init_error = doc
                self.init_elapsed = doc["elapsed"]
            elif '"caios"' in line:
                self.emf_lines.append(line)

    def __repr__(self):
        return "rc=%s\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.stdout, self.stderr[-4000:])


class Unit:
    """A task root + EFS tree + S3 bundles + catalogue for one test."""

    def __init__(self, tmp, s3=None, proxy=None, pylibs=None):
        self.tmp = tmp
        self.root = os.path.join(tmp, "task")
        self.efs = os.path.join(tmp, "efs")
        self.tmpbase = os.path.join(tmp, "lambda-tmp", "caios")
        for d in (self.root, self.efs, os.path.dirname(self.tmpbase)):
            os.makedirs(d, exist_ok=True)
        for f in ("caios_importer.py", "caios_entry.py", "caios_lazy.py"):
            shutil.copy(os.path.join(RUNTIME, f), os.path.join(self.root, f))
        self.s3 = s3
        self.proxy = proxy
        self.pylibs = pylibs or []
        self.modules = {}
        self.files = {}
        self.bundles = {}
        self.distributions = {}
        self.prefetch = []
        self.fetch = {"timeout_s": 2.0, "retries": 3, "backoff_s": 0.05}
        self.s3_conf = {"bucket": BUCKET, "prefix": "caios/", "region": None}
        self.efs_root = self.efs
        self.handler = "handler.handler"

    # files on the local and efs tiers
    def write(self, tier, rel, text, mode=None):
        root = self.root if tier == "local" else self.efs
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def mod(self, name, tier, path, package=False, bundle=None, lazy=False, kind=None):
        if kind is None:
            kind = "namespace" if tier and not path.endswith((".py", ".pyc", ".so")) else (
                "package" if package else "source")
        self.modules[name] = {"tier": tier, "path": path, "package": package, "bundle": bundle,
                              "lazy": lazy, "kind": kind}

    def local_module(self, name, text, package=False, lazy=False):
        rel = name.replace(".", "/") + ("/__init__.py" if package else ".py")
        self.write("local", rel, text)
        self.mod(name, "local", rel, package=package, lazy=lazy)

    def efs_module(self, name, text, package=False, lazy=False):
        rel = name.replace(".", "/") + ("/__init__.py" if package else ".py")
        self.write("efs", rel, text)
        self.mod(name, "efs", rel, package=package, lazy=lazy)

    def bundle(self, members, prefetch=False, upload=True, unpacked=None, corrupt=False,
               key=None, modules=(), lazy=()):
        """members: {name: text/bytes/None} or [(name, data, mode)]. Registers
        `modules` (names whose files are in the bundle) on the s3 tier."""
        if isinstance(members, dict):
            members = [(k, v, None) for k, v in members.items()]
        data = make_zip(members)
        sha = sha256(data)
        key = key or "%s%s.zip" % (self.s3_conf["prefix"], sha)
        if unpacked is None:
            unpacked = sum(len(d.encode() if isinstance(d, str) else d)
                           for _, d, _ in members if d is not None)
        self.bundles[sha] = {"key": key, "size": len(data), "unpacked_bytes": unpacked,
                             "prefetch": bool(prefetch)}
        if upload:
            body = data
            if corrupt:
                mid = len(body) // 2
                body = body[:mid] + bytes([body[mid] ^ 0x01]) + body[mid + 1:]
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        names = dict((n, d) for n, d, _ in members)
        for name in modules:
            rel_pkg = name.replace(".", "/") + "/__init__.py"
            rel_mod = name.replace(".", "/") + ".py"
            if rel_pkg in names:
                self.mod(name, "s3", rel_pkg, package=True, bundle=sha, lazy=name in lazy)
            elif rel_mod in names:
                self.mod(name, "s3", rel_mod, bundle=sha, lazy=name in lazy)
            else:
                raise ValueError("%s is not in the bundle" % name)
        return sha

    def asset(self, name, tier, path, bundle=None):
        self.files[name] = {"tier": tier, "path": path, "bundle": bundle}

    def catalogue(self):
        return {"format": "caios-pack-catalogue", "version": 1, "handler": self.handler,
                "efs_root": self.efs_root, "s3": self.s3_conf, "bundles": self.bundles,
                "modules": self.modules, "files": self.files, "prefetch": self.prefetch,
                "fetch": self.fetch, "distributions": self.distributions}

    def write_catalogue(self):
        with open(os.path.join(self.root, "caios_catalogue.json"), "w") as f:
            json.dump(self.catalogue(), f, indent=1)

    def env(self, extra=None):
        env = client_env(self.tmp, self.proxy.url if self.proxy is not None else None,
                         AWS_LAMBDA_FUNCTION_NAME="test-fn", CAIOS_TMP=self.tmpbase)
        if extra:
            env.update(extra)
        return env

    def run(self, events, env=None, timeout=90, write=True):
        if write:
            self.write_catalogue()
        cmd = [sys.executable, "-I", "-S", DRIVER, json.dumps(events), self.root,
               os.pathsep.join(self.pylibs)]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, cwd=self.tmp)
        result = Result(proc, time.monotonic() - t0)
        if os.environ.get("CAIOS_TEST_VERBOSE"):
            sys.stderr.write("\n=== %s (%.2f s)\n%r\n" % (" ".join(cmd[:4]), result.elapsed, result))
        return result


# ---------------------------------------------------------------------------
# docs/stats.md section 3, as src/stats/formats.rs reads it


def parse_emf_line(line):
    """Everything before the first '{' is ignored; the rest is one JSON object.
    Returns the record if it is an importer line (caios == "cold-start"), else
    None; raises ValueError for a line the Rust reader would skip as bad."""
    start = line.find("{")
    if start < 0:
        raise ValueError("no JSON object on this line")
    rec = json.loads(line[start:])
    if not isinstance(rec, dict):
        raise ValueError("not an object")
    if rec.get("caios") != "cold-start":
        return None

    def rows(value, field):
        if not isinstance(value, list):
            raise ValueError("%s is not a list" % field)
        for row in value:
            if not (isinstance(row, list) and len(row) == 4 and isinstance(row[0], str)
                    and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 64
                            for x in row[2:])):
                raise ValueError("bad %s row %r" % (field, row))

    rows(rec.get("modules", []), "modules")
    if rec.get("invocation_modules") is not None:
        rows(rec["invocation_modules"], "invocation_modules")
    return rec


def driver_outcomes(stdout):
    """(results, errors, compiled) from lambda_driver.py's `CAIOS-TEST` lines;
    raises RuntimeError on an init error."""
    results, errors, compiled = [], [], []
    for line in stdout.splitlines():
        tag, _, doc = line.partition(" ")[2].partition(" ") if line.startswith("CAIOS-TEST ") else ("", "", "")
        if tag == "RESULT":
            results.append(json.loads(doc))
        elif tag == "ERROR":
            errors.append(json.loads(doc))
        elif tag == "COMPILED":
            compiled = json.loads(doc)
        elif tag == "INIT-ERROR":
            raise RuntimeError("init failed: %s" % doc)
    return results, errors, compiled


# ---------------------------------------------------------------------------
# The one S3 server starter, for the Rust tests too (tests/support/s3.rs)


def serve_s3(s3s_fs, root):
    """Starts S3Server on ROOT, prints one JSON line (url, keys, region),
    serves until stdin closes, then stops the server."""
    server = S3Server(s3s_fs, root).start()
    try:
        print(json.dumps({"url": server.url, "access_key": ACCESS_KEY,
                          "secret_key": SECRET_KEY, "region": REGION}), flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "serve-s3":
        sys.exit("usage: harness.py serve-s3 S3S_FS ROOT")
    serve_s3(sys.argv[2], sys.argv[3])

