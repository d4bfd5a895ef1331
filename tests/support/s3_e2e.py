"""End-to-end check of `caios-pack package` with an S3 tier.

Usage: python3 s3_e2e.py DIST TASK_ROOT PYLIBS S3S_FS UNIT_SRC UNIT_ENV [EVENTS.json]

Without EVENTS the handler gets {"x": 1} and {"x": 2}; with it, every event
of the file ({"tests": [{"name", "event", "context"}]}). The EFS tier is
read from DIST/efs/<digest>, or from CAIOS_E2E_EFS_ROOT when set (a mount
populated by `caios-pack efs-sync`). With CAIOS_PACK_BIN set, the bundles are
uploaded by `caios-pack upload` (twice) instead of boto3.

Starts s3s-fs on 127.0.0.1 (tests/runtime/harness.py), uploads DIST/s3/*.zip
under the catalogue's prefix with boto3, then runs the unzipped package
(TASK_ROOT) in `python3 -I -S` — boto3 on sys.path as the Lambda runtime
provides it — and the unpackaged handler, on the same events. Prints one JSON
object: both outputs, the keys fetched from S3, the EMF line and the package's
modules that had to be compiled at import.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import harness  # noqa: E402

DRIVER = os.path.join(HERE, "lambda_driver.py")
DEFAULT_EVENTS = json.dumps([{"x": 1}, {"x": 2}])


def drive(args, env=None):
    """Runs lambda_driver.py; returns (outputs, compiled, stdout), exiting on
    any error of the handler or of its init."""
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", DRIVER] + args, env=env,
                          capture_output=True, text=True, timeout=120)
    try:
        if proc.returncode != 0:
            raise RuntimeError("exit %d" % proc.returncode)
        outputs, errors, compiled = harness.driver_outcomes(proc.stdout)
        if errors:
            raise RuntimeError("the handler raised %s" % errors)
    except (RuntimeError, ValueError) as e:
        sys.exit("%s run failed (%s):\n%s\n%s" % (args[0], e, proc.stdout, proc.stderr))
    return outputs, compiled, proc.stdout


def main():
    dist, task, pylibs, s3s, src, env_dir = sys.argv[1:7]
    events = "@" + sys.argv[7] if len(sys.argv) > 7 else DEFAULT_EVENTS
    efs_dir = os.path.join(dist, "efs")
    efs_roots = [os.path.join(efs_dir, d) for d in sorted(os.listdir(efs_dir))] if os.path.isdir(efs_dir) else []
    catalogue = json.load(open(os.path.join(dist, "catalogue.json")))
    prefix = catalogue["s3"]["prefix"]
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        os.makedirs(store)
        server = harness.S3Server(s3s, store).start()
        try:
            client = harness.s3_client([pylibs], server.url)
            client.create_bucket(Bucket="caios-e2e")
            uploads = []
            caios = os.environ.get("CAIOS_PACK_BIN")
            if caios:
                # The product's own upload, twice: the second finds everything there.
                upload_env = harness.client_env(tmp)
                for _ in range(2):
                    up = subprocess.run([caios, "upload", dist, "--bucket", "caios-e2e",
                                         "--endpoint-url", server.url, "--format", "json"],
                                        env=upload_env, capture_output=True, text=True, timeout=300)
                    if up.returncode != 0:
                        sys.exit("caios-pack upload failed:\n" + up.stderr)
                    uploads.append(json.loads(up.stdout))
            else:
                for name in sorted(os.listdir(os.path.join(dist, "s3"))):
                    with open(os.path.join(dist, "s3", name), "rb") as f:
                        client.put_object(Bucket="caios-e2e", Key=prefix + name, Body=f.read())
            env = harness.client_env(
                tmp, server.url, CAIOS_BUCKET="caios-e2e",
                CAIOS_TMP=os.path.join(tmp, "caios-tmp"),
                # A synced mount (CAIOS_E2E_EFS_ROOT) or the tree in DIST.
                CAIOS_EFS_ROOT=os.environ.get("CAIOS_E2E_EFS_ROOT") or (efs_roots[0] if efs_roots else ""))
            packaged, compiled, stdout = drive([events, task, pylibs], env)
            plain = drive(["--handler", "handler.handler", events, src, env_dir])[0]
            lines = stdout.strip().splitlines()
            package_roots = tuple(os.path.abspath(p) + os.sep for p in
                                  (task, env["CAIOS_EFS_ROOT"] or task, env["CAIOS_TMP"]))
            emf = [json.loads(l) for l in lines if l.startswith("{") and '"caios"' in l]
            fetched = sorted(os.listdir(os.path.join(tmp, "caios-tmp"))) if os.path.isdir(os.path.join(tmp, "caios-tmp")) else []
            print(json.dumps({
                "packaged": packaged,
                "plain": plain,
                "extracted_bundles": [f for f in fetched if len(f) == 64],
                # Modules of the package (any tier) compiled at import: none
                # when every tier ships unchecked-hash pycs.
                "compiled_in_package": [p for p in compiled
                                        if os.path.abspath(p).startswith(package_roots)],
                "emf": emf,
                "uploads": uploads,
            }))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
