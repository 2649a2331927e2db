"""The [telegram] table: bad values are refused at load, naming their key."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config


@pytest.mark.parametrize(("values", "key"), [
    ({"public_url": "http://desk.example.org"}, "telegram.public_url"),
    ({"api_url": "api.telegram.org"}, "telegram.api_url"),
    ({"poll_timeout_s": 90}, "telegram.poll_timeout_s"),
    ({"max_file_bytes": 0}, "telegram.max_file_bytes"),
    ({"retry_base_s": 0}, "telegram.retry_base_s"),
    ({"webhook_check_s": -1}, "telegram.webhook_check_s"),
    ({"token": "123:abc"}, "telegram.token"),  # secrets only come from the environment
])
def test_bad_telegram_values_name_their_key(values, key):
    with pytest.raises(ConfigError) as caught:
        parse_config({"telegram": values})
    assert caught.value.key == key


def test_defaults_point_at_telegram_with_its_download_limit():
    config = parse_config({"telegram": {"enabled": True}}).telegram
    assert (config.mode, config.api_url, config.max_file_bytes) == ("polling", "https://api.telegram.org",
                                                                    20 * 1024 * 1024)
    assert config.attachments_dir == "var/attachments"
