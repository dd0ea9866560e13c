"""The only places the library reaches into another package's internals (a name with a leading
underscore), one module per package, because no public API does the job. Each module names
the version it was checked against (`CHECKED`), and tests/test_adapters.py fails when the
installed version differs, saying what to re-check. Nothing else in lib/ may use another
package's private names (tests/test_public_apis.py)."""
