"""caios-pack verify driver: runs a handler on events and records, per event,
what it returned or raised and what it printed.

Run by ``caios-pack verify`` (src/verify.rs) as ``python -s -S -B [-P]
caios_verify.py CONFIG OUT`` with no PYTHON* variable but ``PYTHONHASHSEED=0``
(``-I`` without ignoring the environment, so that both runs hash alike).
CONFIG is a JSON object::

    {"mode": "unpackaged" | "packaged",
     "paths": [folders put first on sys.path],
     "handler_module": "handler", "handler_function": "handler",
     "function_name": "handler",
     "events": [{"index": 0, "name": "...", "event": ..., "context": {...}}]}

``unpackaged`` imports the handler module from ``paths`` (the unit's source
and site-packages, as ``caios-pack trace`` does); ``packaged`` imports
``caios_entry`` from ``paths[0]`` (the unzipped deployment package) and calls
``caios_entry.handler``. Init (the import) and every event run in this
process, in order: a warm container; one event per process is a cold one.

OUT gets one JSON line per record, written as soon as it is known so that a
crash or a timeout keeps what came before:

* ``{"kind": "init", "outcome": ..., "stdout": ..., "modules": [...]}``
* ``{"kind": "event", "index": i, "outcome": ..., "stdout": ..., "modules": [...]}``

``outcome`` is ``{"return": {"json": TEXT}}`` (canonical JSON: sorted keys,
no spaces) or ``{"return": {"repr": TEXT}}`` for values JSON cannot encode,
``{"raised": {"type", "message"}}``, or ``{"init_raised": {...}}`` for
events of a process whose init failed. ``stdout`` is everything written to
file descriptor 1 meanwhile; the runtime importer's cold-start line is
dropped. ``modules`` (packaged mode) lists the modules that appeared in
``sys.modules`` meanwhile and where each was loaded from; ``error_modules``
details the module an ImportError names and its parents.
"""

import json
import os
import re
import sys
import tempfile
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
# The driver's own folder is no part of the function.
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != _HERE]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _encode(value):
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except Exception as e:  # noqa: BLE001 -- a repr that raises is an outcome too
            text = f"<repr raised {type(e).__name__}: {e}>"
        return {"repr": _ADDRESS.sub(" at 0x...", text)}
    return {"json": text}


def _type_name(exc):
    cls = type(exc)
    module = getattr(cls, "__module__", "builtins")
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def _message(exc):
    try:
        return _ADDRESS.sub(" at 0x...", str(exc))
    except Exception as e:  # noqa: BLE001
        return f"<str raised {type(e).__name__}>"


def _import_names(exc):
    """Module names the ImportErrors of exc's chain name, outermost first."""
    names, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
        exc = exc.__cause__ or exc.__context__
    return names


class _Context:
    """A Lambda context with fixed values, so both runs see the same one."""

    def __init__(self, values, function_name, index):
        values = dict(values) if isinstance(values, dict) else {}
        budget = values.pop("timeout_ms", None)
        if budget is None:
            budget = values.pop("remaining_time_in_millis", None)
        if not isinstance(budget, (int, float)) or isinstance(budget, bool):
            budget = 900000
        self._budget = int(budget)
        name = values.get("function_name") or function_name
        request_id = f"00000000-0000-4000-8000-{index:012d}"
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self.memory_limit_in_mb = "128"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"caios-pack/verify/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        for k, v in values.items():
            setattr(self, str(k), v)

    def get_remaining_time_in_millis(self):
        return self._budget


class _Capture:
    """Everything written to file descriptor 1 (print, os.write, C code)."""

    def __enter__(self):
        self._flush()
        self._saved = os.dup(1)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 1)
        self.text = ""
        return self

    def __exit__(self, *exc):
        self._flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return False

    @staticmethod
    def _flush():
        for stream in (sys.stdout, sys.__stdout__):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 -- a closed or replaced stream
                pass


class _Where:
    """Where each module of the packaged run was loaded from."""

    def __init__(self, packaged, task_root):
        self.packaged = packaged
        self.task_root = task_root
        self.known = set(sys.modules)

    def _importer(self):
        mod = sys.modules.get("caios_importer")
        return mod.installed() if mod is not None and hasattr(mod, "installed") else None

    def _tier_of(self, imp, path):
        if not path:
            return None
        path = os.path.abspath(path)
        roots = [("local", self.task_root)]
        if imp is not None:
            if imp.efs_root:
                roots.append(("efs", imp.efs_root))
            roots.append(("s3", imp.tmp_base))
        for tier, root in roots:
            if root and path.startswith(root.rstrip("/") + "/"):
                return tier
        return None

    def row(self, name, imp=None):
        try:
            return self._row(name, imp or self._importer())
        except Exception as e:  # noqa: BLE001 -- explaining must never fail the run
            return {"name": name, "loaded": name in sys.modules, "file": None, "tier": None,
                    "problem": f"{type(e).__name__}: {e}"}

    def _row(self, name, imp):
        mod = sys.modules.get(name)
        # Read the module's namespace directly: an attribute access would
        # run a lazy module's body, which the function itself may never do.
        try:
            namespace = object.__getattribute__(mod, "__dict__") if mod is not None else {}
        except (AttributeError, TypeError):
            namespace = {}
        path = namespace.get("__file__")
        if mod is not None and not isinstance(path, str):
            try:
                path = next(iter(namespace.get("__path__") or ()), None)
            except TypeError:
                path = None
        if not isinstance(path, str):
            path = None
        entry = imp.modules.get(name) if imp is not None else None
        row = {"name": name, "loaded": mod is not None, "file": path,
               "tier": self._tier_of(imp, path)}
        if isinstance(entry, dict):
            row["catalogue"] = {k: entry.get(k) for k in ("tier", "path", "bundle", "kind")}
            row["expected"] = self._expected(imp, entry)
        return row

    def _expected(self, imp, entry):
        tier, rel = entry.get("tier"), entry.get("path") or ""
        if tier == "local":
            root = imp.task_root
        elif tier == "efs":
            root = imp.efs_root or "(no efs_root)"
        elif tier == "s3":
            root = imp.bundle_dir(entry.get("bundle") or "?")
        else:
            return None
        return root + "/" + rel if rel else root

    def new_rows(self):
        """Rows for the modules that appeared since the last call (packaged
        mode: only those from the package's tiers or in the catalogue)."""
        names = [n for n in list(sys.modules) if n not in self.known]
        self.known.update(names)
        if not self.packaged:
            return []
        imp = self._importer()
        rows = []
        for name in sorted(names):
            row = self.row(name, imp)
            if row["tier"] is not None or "catalogue" in row:
                rows.append(row)
        return rows

    def error_rows(self, names):
        if not self.packaged:
            return []
        imp = self._importer()
        wanted = []
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                n = ".".join(parts[:i])
                if n not in wanted:
                    wanted.append(n)
        return [self.row(n, imp) for n in wanted]


def _drop_cold_start_line(text):
    """The runtime importer's EMF line (one per cold start) is no output of
    the function's."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if '"cold-start"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("caios") == "cold-start":
            del lines[i]
            return "".join(lines), True
    return text, False


def main():
    config_path, out_path = sys.argv[1], sys.argv[2]
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    packaged = config["mode"] == "packaged"
    paths = config["paths"]
    sys.path[0:0] = paths
    out = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 -- open for the whole run

    def write(record):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    where = _Where(packaged, os.path.abspath(paths[0]) if paths else None)
    emf_pending = [packaged]

    def stdout_of(capture):
        text = capture.text
        if emf_pending[0]:
            text, dropped = _drop_cold_start_line(text)
            if dropped:
                emf_pending[0] = False
        return text

    handler = None
    init = {"kind": "init"}
    with _Capture() as capture:
        try:
            if packaged:
                import caios_entry
                handler = caios_entry.handler
            else:
                import importlib
                module = importlib.import_module(config["handler_module"])
                handler = getattr(module, config["handler_function"], None)
                if not callable(handler):
                    raise AttributeError(
                        f"handler module {config['handler_module']!r} has no function "
                        f"{config['handler_function']!r}")
            init["outcome"] = {"return": None}
        except BaseException as e:  # noqa: BLE001 -- the function's failure is the result
            init["outcome"] = {"raised": {"type": _type_name(e), "message": _message(e)}}
            init["traceback"] = traceback.format_exc()
            init["error_modules"] = where.error_rows(_import_names(e))
    init["stdout"] = stdout_of(capture)
    init["modules"] = where.new_rows()
    write(init)

    for case in config["events"]:
        record = {"kind": "event", "index": case["index"]}
        if handler is None:
            record["outcome"] = {"init_raised": init["outcome"]["raised"]}
            record["stdout"] = ""
            record["modules"] = []
            write(record)
            continue
        context = _Context(case.get("context"), config.get("function_name") or "function",
                           case["index"])
        with _Capture() as capture:
            try:
                record["outcome"] = {"return": _encode(handler(case["event"], context))}
            except BaseException as e:  # noqa: BLE001 -- the function's failure is the result
                record["outcome"] = {"raised": {"type": _type_name(e), "message": _message(e)}}
                record["traceback"] = traceback.format_exc()
                record["error_modules"] = where.error_rows(_import_names(e))
        record["stdout"] = stdout_of(capture)
        record["modules"] = where.new_rows()
        write(record)
    out.close()
    # The function's threads are no reason to wait (Lambda freezes them).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
