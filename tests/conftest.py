pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.stub",
    "tests.fixtures.gateway",
]
