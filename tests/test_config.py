"""playwire.config: the layers of settings, their validation, the kept secret key."""

from __future__ import annotations

import pytest

from playwire.config import Config, ConfigError, load_config, with_secret_key


def test_config_layers(tmp_path):
    (tmp_path / "config.json").write_text('{"port": 6000, "history_size": 9, "rate_burst": 5}')
    environ = {"PLAYWIRE_PORT": "7000", "PLAYWIRE_CORS_ORIGINS": "https://a.example, https://b"}
    config = load_config({"instance_dir": str(tmp_path), "history_size": "3"}, environ)
    assert (config.port, config.history_size, config.rate_burst) == (7000, 3, 5)
    assert config.cors_origins == ["https://a.example", "https://b"]


@pytest.mark.parametrize(
    "flags",
    [
        {"port": "70000"},
        {"rate_limit": "0"},
        {"message_queue": "http://x"},
        {"message_queue": "redis+sentinel://127.0.0.1:26379/0"},  # no service
        {"message_queue": "redis+sentinel://127.0.0.1/0/playwire"},  # no port
        {"message_queue": "redis+cluster://127.0.0.1"},
        {"port": "abc"},
        {"log_level": "loud"},
        {"login_user_limit": "five a minute"},
        {"register_limit": ""},
        {"trusted_proxies": "10.0.0.0/8,nonsense"},
        {"cookie_secure": "maybe"},
        {"max_outbox": "100"},
    ],
)
def test_bad_config_is_refused(tmp_path, flags):
    with pytest.raises(ConfigError):
        load_config({"instance_dir": str(tmp_path), **flags}, {})


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.internal:6380/2",
        "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/0/playwire",
        "redis+sentinel://user:pw@s1:26379/3/playwire",
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
    ],
)
def test_every_redis_topology_is_a_message_queue(tmp_path, url):
    config = load_config({"instance_dir": str(tmp_path), "message_queue": url}, {})
    assert config.message_queue == url


def test_generated_secret_key_is_kept(tmp_path):
    config = Config(instance_dir=str(tmp_path))
    first = with_secret_key(config).secret_key
    assert first and with_secret_key(config).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (
        with_secret_key(Config(instance_dir=str(tmp_path), secret_key="given")).secret_key
        == "given"
    )


def test_abuse_limits_defaults():
    config = Config()
    assert (config.login_user_limit, config.login_address_limit, config.register_limit) == (
        "5 per 15 minutes",
        "30 per minute",
        "10 per hour",
    )
    assert (config.max_outbox, config.cookie_secure) == (1048576, "auto")
    assert config.trusted_proxies == []
