# Prepended to the test drivers that run a handler (tests/package.rs and
# tests/support/s3_e2e.py): every source file Python has to compile at import
# is appended to `compiled`, so a test can assert that the package's shipped
# .pyc files left nothing to compile.
import importlib._bootstrap_external as _ext
compiled = []
_source_to_code = _ext.SourceLoader.source_to_code
def _counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
_ext.SourceLoader.source_to_code = _counting
