"""S3 faults against a whole package that `caios-pack package` wrote.

Usage: python3 fault_e2e.py DIST TASK_ROOT PYLIBS S3S_FS MODULE

DIST holds exactly one S3 bundle, the one MODULE (imported by the handler
during the invocation) lives in. Starts s3s-fs on 127.0.0.1 behind the
harness's fault-injecting proxy, uploads the bundle with boto3, and runs the
unzipped package (TASK_ROOT) in a fresh `python3 -I -S` per scenario, each
with an empty CAIOS_TMP:

  clean      no fault
  500-twice  the bundle's GET answers HTTP 500 twice, then succeeds
  stall      the bundle's GET never answers
  flipped    the stored bundle has one byte flipped
  missing    the bundle's key is not in the bucket
  tmp-full   CAIOS_TMP is a 64 KiB tmpfs (mounted in a user namespace with
             `unshare -rm`)

Prints one JSON object: scenario → {"result" or "error", "elapsed_s",
"executed" (whether MODULE's code ran: it touches $CAIOS_TEST_MARKER)}.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import harness  # noqa: E402

BUCKET = "caios-faults"

DRIVER = os.path.join(HERE, "lambda_driver.py")

def run(task, pylibs, env, tmp_limit_kib=None):
    command = [sys.executable, "-I", "-S", "-B", DRIVER, '[{"x": 1}]', task, pylibs]
    if tmp_limit_kib is not None:
        # A tiny /tmp: a tmpfs mounted over CAIOS_TMP in a private namespace.
        script = 'mount -t tmpfs -o size=%dk tmpfs "$CAIOS_TMP" && exec "$@"' % tmp_limit_kib
        command = ["unshare", "-rm", "sh", "-c", script, "sh"] + command
    start = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    try:
        results, errors, _ = harness.driver_outcomes(proc.stdout)
    except RuntimeError:
        results, errors = [], []
    if proc.returncode != 0 or not (results or errors):
        return {"crashed": proc.returncode, "stderr": proc.stderr[-3000:], "elapsed_s": elapsed}
    if results:
        out = {"result": results[0]}
    else:
        out = {"error": "%s: %s" % (errors[0]["type"], errors[0]["message"])}
    out["elapsed_s"] = round(elapsed, 2)
    return out


def main():
    dist, task, pylibs, s3s, module = sys.argv[1:6]
    catalogue = json.load(open(os.path.join(dist, "catalogue.json")))
    prefix = catalogue["s3"]["prefix"]
    bundles = sorted(os.listdir(os.path.join(dist, "s3")))
    if len(bundles) != 1:
        sys.exit("expected one bundle in %s/s3, found %s" % (dist, bundles))
    name = bundles[0]
    sha = name[:-len(".zip")]
    data = open(os.path.join(dist, "s3", name), "rb").read()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        os.makedirs(store)
        server = harness.S3Server(s3s, store).start()
        proxy = harness.FaultProxy(server.port)
        try:
            client = harness.s3_client([pylibs], server.url)
            client.create_bucket(Bucket=BUCKET)

            def put(body):
                client.put_object(Bucket=BUCKET, Key=prefix + name, Body=body)

            def scenario(label, tmp_limit_kib=None):
                cache = os.path.join(tmp, "caios-" + label)
                os.makedirs(cache)
                marker = os.path.join(tmp, "executed-" + label)
                env = harness.client_env(tmp, proxy.url, CAIOS_BUCKET=BUCKET, CAIOS_TMP=cache,
                                         CAIOS_EMF="0", CAIOS_TEST_MARKER=marker)
                out = run(task, pylibs, env, tmp_limit_kib)
                out["executed"] = os.path.exists(marker)
                out["gets"] = len(proxy.gets(sha))
                results[label] = out
                proxy.reset()
                shutil.rmtree(cache, ignore_errors=True)

            put(data)
            scenario("clean")
            proxy.set("500", count=2, match=sha)
            scenario("500-twice")
            proxy.set("stall", match=sha)
            scenario("stall")
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0x01
            put(bytes(flipped))
            scenario("flipped")
            client.delete_object(Bucket=BUCKET, Key=prefix + name)
            scenario("missing")
            put(data)
            scenario("tmp-full", tmp_limit_kib=64)
        finally:
            proxy.close()
            server.stop()
    results["bundle"] = {"sha": sha, "key": prefix + name, "module": module}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
