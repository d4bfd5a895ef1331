"""Ground truth for recall tests: which of the unit's modules real Python loads.

Run as `python3 -I -S loaded_modules.py HANDLER_MODULE ROOT [ROOT ...]`. Puts
only the given roots on sys.path (the first one is the handler's source
folder), imports the handler module, and prints a JSON object mapping every
module in sys.modules whose file (or, for a namespace package, whose path)
lies under one of the roots to that file.
"""
import importlib
import json
import os
import sys


def main():
    handler, roots = sys.argv[1], [os.path.realpath(r) for r in sys.argv[2:]]
    sys.path[:] = roots + [p for p in sys.path if not p.startswith(tuple(roots))]
    importlib.import_module(handler)
    loaded = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path is None:
            portions = list(getattr(module, "__path__", []) or [])
            path = portions[0] if portions else None
        if path is None:
            continue
        real = os.path.realpath(path)
        if any(real == r or real.startswith(r + os.sep) for r in roots):
            loaded[name] = real
    json.dump(loaded, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
