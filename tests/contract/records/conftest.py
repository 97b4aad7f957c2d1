import pytest


def pytest_configure(config: pytest.Config) -> None:
    # msgraph-sdk's generated request builders warn about their own deprecated config classes.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kiota_abstractions.*")
