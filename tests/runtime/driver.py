"""Run like the Lambda runtime would: python3 -I -S driver.py TASK_ROOT PYLIBS EVENTS_JSON.

Puts TASK_ROOT and PYLIBS (os.pathsep-separated) first on sys.path, imports
caios_entry (the init phase), then calls caios_entry.handler on each event.
Prints one `CAIOS-TEST ...` line per outcome; the importer's EMF line is
printed by caios_entry itself."""

import sys
import time

_t0 = time.monotonic()
task_root, pylibs, events_json = sys.argv[1:4]
sys.path[:0] = [task_root] + [p for p in pylibs.split(":") if p]

import json  # noqa: E402


def _emit(tag, doc):
    sys.stdout.write("CAIOS-TEST %s %s\n" % (tag, json.dumps(doc)))
    sys.stdout.flush()


try:
    import caios_entry
except BaseException as e:  # the init error Lambda would report
    _emit("INIT-ERROR", {"type": type(e).__name__, "message": str(e),
                         "elapsed": time.monotonic() - _t0})
    sys.exit(3)

for event in json.loads(events_json):
    try:
        _emit("RESULT", caios_entry.handler(event, None))
    except BaseException as e:
        _emit("ERROR", {"type": type(e).__name__, "message": str(e)})
