"""Runs a handler on events with chosen modules imported through LazyLoader.

Usage: python3 -I -S lazy_run.py EVENTS.json LAZY.json HANDLER_MODULE HANDLER_FUNCTION ROOT [ROOT ...]

LAZY.json is a JSON list of module names to wrap with
`importlib.util.LazyLoader` (an empty list gives the plain run). Prints one
JSON object: the outputs per event, and how many of the lazy modules init
left unexecuted. Used to prove that caios-pack's lazy candidates are safe.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import types


class LazyFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec  # LazyLoader cannot defer extension modules
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def main():
    events_path, lazy_path, module, function, *roots = sys.argv[1:]
    sys.path[:0] = roots
    lazy = json.load(open(lazy_path))
    sys.meta_path.insert(0, LazyFinder(lazy))
    handler = getattr(importlib.import_module(module), function)
    unexecuted = sorted(
        n for n in lazy if n in sys.modules and type(sys.modules[n]).__name__ == "_LazyModule"
    )
    with open(events_path) as f:
        events = json.load(f)
    tests = events["tests"] if isinstance(events, dict) else [{"name": str(i), "event": e} for i, e in enumerate(events)]
    outputs = {}
    for test in tests:
        context = types.SimpleNamespace(**test.get("context", {}))
        outputs[test["name"]] = handler(test["event"], context)
    json.dump({"outputs": outputs, "lazy_unexecuted_after_init": unexecuted}, sys.stdout, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
