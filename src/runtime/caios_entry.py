"""caios-pack Lambda entry module: configure the function's handler as
``caios_entry.handler``.

At import (the Lambda init phase) it installs the runtime importer from
``caios_catalogue.json`` next to this file, starts the background prefetch of
the plan's S3 bundles, and imports the user's handler module named in the
catalogue ("handler": "module.function"). ``handler(event, context)`` calls
the user's function; after the first invocation returns (or raises) it prints
one CloudWatch EMF line with this cold start's statistics (docs/stats.md,
section 3; docs/runtime.md). Set CAIOS_EMF=0 to suppress the line.

Init runs with the cyclic garbage collector paused: importing a large stack
(numpy, pandas, scikit-learn) makes almost no cyclic garbage, yet the
collector walks the growing heap hundreds of times (~85 ms of the reference
unit's ~1 s init). When init ends the heap is frozen (gc.freeze: later
collections skip it) and the collector runs again. CAIOS_INIT_GC=on keeps it
running during init.
"""

import time

_T0 = time.perf_counter_ns()

import gc
import os
import sys

_GC_PAUSED = gc.isenabled() and os.environ.get("CAIOS_INIT_GC", "") != "on"
if _GC_PAUSED:
    gc.disable()

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def _resume_gc():
    if _GC_PAUSED and not gc.isenabled():
        gc.freeze()
        gc.enable()


try:
    import caios_importer

    _importer = caios_importer.install(
        os.environ.get("CAIOS_CATALOGUE") or os.path.join(_HERE, "caios_catalogue.json"),
        task_root=_HERE)
    _importer.start_prefetch()
except BaseException:
    _resume_gc()
    raise


def _resolve_handler(spec):
    module_name, _, function_name = spec.replace("/", ".").rpartition(".")
    if not module_name or not function_name:
        raise caios_importer.CaiosError(
            "caios: the catalogue's handler %r is not 'module.function'" % spec)
    import importlib
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise caios_importer.CaiosError(
            "caios: handler module %r (%s) has no function %r (catalogue handler %r)"
            % (module_name, getattr(module, "__file__", None), function_name, spec))
    return function


try:
    _user_handler = _resolve_handler(_importer.handler)
finally:
    _resume_gc()
_importer.end_init(_T0)
_first = [True]
_emf = os.environ.get("CAIOS_EMF", "1") not in ("0", "false", "no", "off")


def handler(event, context):
    if not _first[0]:
        return _user_handler(event, context)
    _first[0] = False
    _importer.begin_invocation()
    try:
        return _user_handler(event, context)
    finally:
        if _emf:
            _importer.emit_cold_start()
        else:
            _importer.stats.phase = None
