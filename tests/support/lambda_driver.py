"""Runs a handler as the Lambda Python runtime would; the one driver of the tests.

Usage: python3 -I -S [-B] lambda_driver.py [--handler MODULE.FUNCTION] EVENTS PATH...

PATH     put first on sys.path, in order (one argument may hold several
         folders separated by os.pathsep; empty ones are skipped)
EVENTS   a JSON list of events (context None), or @FILE: the "tests" of an
         events.json ({"tests": [{"name", "event", "context"}]}), each
         context an object with those attributes
Without --handler it imports caios_entry (the packaged function's init) and
calls caios_entry.handler; with it, the unpackaged handler.

Prints one line per outcome, `CAIOS-TEST TAG JSON`:
  INIT-ERROR {"type", "message", "elapsed"}   the import failed (exit 3)
  RESULT value, or ERROR {"type", "message"}  one per event, in order
  COMPILED [path, ...]                        last: every source file Python
                                              had to compile at import
The runtime importer's EMF line is printed by caios_entry itself.
"""

import sys
import time

_t0 = time.monotonic()

# Count the source files compiled at import, so a test can assert that the
# package's shipped .pyc files left nothing to compile.
import importlib._bootstrap_external as _ext  # noqa: E402

compiled = []
_source_to_code = _ext.SourceLoader.source_to_code


def _counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)


_ext.SourceLoader.source_to_code = _counting

import json  # noqa: E402
import os  # noqa: E402
import types  # noqa: E402


def _emit(tag, doc):
    sys.stdout.write("CAIOS-TEST %s %s\n" % (tag, json.dumps(doc)))
    sys.stdout.flush()


def _cases(events):
    if events.startswith("@"):
        with open(events[1:]) as f:
            tests = json.load(f)["tests"]
        return [(t["event"], types.SimpleNamespace(**(t.get("context") or {}))) for t in tests]
    return [(event, None) for event in json.loads(events)]


def _load(handler):
    if handler is None:
        import caios_entry
        return caios_entry.handler
    module, _, function = handler.rpartition(".")
    import importlib
    return getattr(importlib.import_module(module), function)


def main(argv):
    handler = None
    if argv[:1] == ["--handler"]:
        handler, argv = argv[1], argv[2:]
    events, paths = argv[0], argv[1:]
    sys.path[:0] = [p for arg in paths for p in arg.split(os.pathsep) if p]
    cases = _cases(events)
    try:
        call = _load(handler)
    except BaseException as e:  # the init error Lambda would report
        _emit("INIT-ERROR", {"type": type(e).__name__, "message": str(e),
                             "elapsed": time.monotonic() - _t0})
        return 3
    for event, context in cases:
        try:
            _emit("RESULT", call(event, context))
        except BaseException as e:
            _emit("ERROR", {"type": type(e).__name__, "message": str(e)})
    _emit("COMPILED", compiled)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
