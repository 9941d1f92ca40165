pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.stub",
    "tests.fixtures.gateway",
    "tests.fixtures.redis_topologies",
    "tests.fixtures.call_stores",
    "tests.fixtures.phone",
]
