"""The project's own tests (a package, so fixtures and helpers import as ``tests.conftest``)."""
