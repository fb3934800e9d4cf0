"""service.settings: the environment variables the service reads once at start, each validated with a
message that names the variable and what it accepts."""
import pytest

from service.settings import (
    BATCHING_ENV,
    MAX_SESSIONS_ENV,
    SESSION_STORE_ENV,
    SESSION_TTL_ENV,
    STRICT_ENV,
    TRACING_ENV,
    WORKERS_ENV,
    Settings,
    api_workers,
    threads_env,
    tracing_config,
)


def test_generation_threads_setting_is_validated():
    variable = threads_env("generation")
    assert variable == "RNNZOO_GENERATION_THREADS"  # the documented name
    assert Settings.from_environment(("generation",), {}).task_threads == {}  # unset: 1 thread
    assert Settings.from_environment(("generation",), {variable: "1"}).task_threads == {"generation": 1}
    for bad in ("0", "two", "-1", "100000"):
        with pytest.raises(ValueError, match=f"{variable}='{bad}': expected a whole number from 1 to"):
            Settings.from_environment(("generation",), {variable: bad})


def test_session_limits_are_validated():
    def limits(environ):
        settings = Settings.from_environment((), environ)
        return settings.max_sessions, settings.session_ttl_s

    assert limits({}) == (1000, 900.0)
    assert limits({MAX_SESSIONS_ENV: "5", SESSION_TTL_ENV: "2.5"}) == (5, 2.5)
    for variable, value in ((MAX_SESSIONS_ENV, "0"), (MAX_SESSIONS_ENV, "many"), (SESSION_TTL_ENV, "0"),
                            (SESSION_TTL_ENV, "nan"), (SESSION_TTL_ENV, "soon")):
        with pytest.raises(ValueError, match=variable):
            limits({MAX_SESSIONS_ENV: "5", SESSION_TTL_ENV: "2.5", variable: value})


def test_strict_and_batching_switches_are_validated():
    assert Settings.from_environment((), {STRICT_ENV: "1", BATCHING_ENV: "off"}) == Settings(strict=True, batching=False)
    for variable, value, allowed in ((STRICT_ENV, "yes", "0 or 1"), (BATCHING_ENV, "true", "on or off")):
        with pytest.raises(ValueError, match=f"{variable}='{value}': expected {allowed}"):
            Settings.from_environment((), {variable: value})


def test_the_session_store_and_the_worker_count_are_validated_together():
    assert Settings.from_environment((), {}).session_store == "memory"
    for url in ("redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380/1", "unix:///run/redis.sock"):
        assert Settings.from_environment((), {SESSION_STORE_ENV: url}).session_store == url
    for bad in ("redis", "http://redis:6379", "redis://", "Memory"):
        with pytest.raises(ValueError, match=f"{SESSION_STORE_ENV}='{bad}': expected memory .* or a Redis URL"):
            Settings.from_environment((), {SESSION_STORE_ENV: bad})
    assert api_workers({}) == 1
    assert api_workers({WORKERS_ENV: "2", SESSION_STORE_ENV: "redis://r:6379/0"}) == 2
    with pytest.raises(ValueError, match=f"{WORKERS_ENV}=2 needs {SESSION_STORE_ENV}=redis://...: with sessions"):
        api_workers({WORKERS_ENV: "2"})
    for bad in ("0", "two", "100000"):
        with pytest.raises(ValueError, match=f"{WORKERS_ENV}='{bad}': expected a whole number from 1 to"):
            api_workers({WORKERS_ENV: bad})


def test_tracing_is_off_unless_asked_for():
    assert tracing_config({}) == {"excluded_urls": [".*"]} == tracing_config({TRACING_ENV: "off"})
    assert tracing_config({TRACING_ENV: "on"}) == {}
    with pytest.raises(ValueError, match=f"{TRACING_ENV}='yes': expected off or on"):
        tracing_config({TRACING_ENV: "yes"})
