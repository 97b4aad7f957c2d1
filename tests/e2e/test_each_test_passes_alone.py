"""A guard for "every test passes alone": two end-to-end tests, sampled by date, each run in a fresh
pytest process (tests/tools/run_alone.py). A test that leans on a module-scoped world set up by
the tests before it fails here; `make test-alone` runs every end-to-end test alone."""

from __future__ import annotations

from tests.tools.run_alone import main

SAMPLED_FROM = ["tests/e2e/tasks/test_tasks_e2e.py", "tests/e2e/drift"]


def test_a_sample_of_end_to_end_tests_passes_when_run_alone() -> None:
    assert main(["--sample", "2", *SAMPLED_FROM]) == 0
