"""Where the tokenization key comes from: environment, key file, Secrets Manager, local file."""

from __future__ import annotations

import stat

import pytest

from lakehouse.config import TokenizationSettings
from lakehouse.errors import ConfigError
from lakehouse.io.lake import Lake
from lakehouse.pii.keys import resolve_token_key

HEX_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
ENV = "LAKEHOUSE_TOKEN_KEY"


def test_hex_key_from_the_environment_is_decoded(lake):
    key = resolve_token_key(TokenizationSettings(), lake, environ={ENV: HEX_KEY})
    assert key == bytes.fromhex(HEX_KEY)


def test_plain_text_key_from_the_environment_is_used_as_bytes(lake):
    key = resolve_token_key(TokenizationSettings(), lake,
                            environ={ENV: "  correct horse battery staple\n"})
    assert key == b"correct horse battery staple"


def test_the_configured_variable_name_is_read(lake):
    settings = TokenizationSettings(key_env="MY_KEY")
    key = resolve_token_key(settings, lake, environ={"MY_KEY": "m" * 20, ENV: "e" * 20})
    assert key == b"m" * 20


def test_environment_wins_over_a_key_file(tmp_path, lake):
    path = tmp_path / "token.key"
    path.write_text("f" * 20)
    key = resolve_token_key(TokenizationSettings(key_file=str(path)), lake,
                            environ={ENV: "e" * 20})
    assert key == b"e" * 20


def test_key_from_a_key_file(tmp_path, lake):
    path = tmp_path / "token.key"
    path.write_text(HEX_KEY + "\n", encoding="utf-8")
    key = resolve_token_key(TokenizationSettings(key_file=str(path)), lake, environ={})
    assert key == bytes.fromhex(HEX_KEY)


def test_missing_key_file_is_a_config_error(tmp_path, lake):
    path = tmp_path / "absent.key"
    with pytest.raises(ConfigError, match="cannot read the tokenization key file"):
        resolve_token_key(TokenizationSettings(key_file=str(path)), lake, environ={})
    assert not (tmp_path / "lake" / "_secrets").exists()  # no silent fallback to a local key


@pytest.mark.parametrize("short", ["too-short", "fifteen-chars!!", "  0011223344  "])
def test_key_shorter_than_16_bytes_is_a_config_error(lake, short):
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        resolve_token_key(TokenizationSettings(), lake, environ={ENV: short})


def test_short_key_in_a_key_file_is_a_config_error(tmp_path, lake):
    path = tmp_path / "token.key"
    path.write_text("abc")
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        resolve_token_key(TokenizationSettings(key_file=str(path)), lake, environ={})


def test_local_key_is_generated_once_with_private_permissions(tmp_path, lake):
    first = resolve_token_key(TokenizationSettings(), lake, environ={})
    path = tmp_path / "lake" / "_secrets" / "token.key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) == 32 and first == bytes.fromhex(path.read_text())
    assert resolve_token_key(TokenizationSettings(), lake, environ={}) == first


def test_local_keys_of_two_lakes_differ(tmp_path):
    one = resolve_token_key(TokenizationSettings(), Lake.at(tmp_path / "a"), environ={})
    two = resolve_token_key(TokenizationSettings(), Lake.at(tmp_path / "b"), environ={})
    assert one != two


def test_no_key_and_no_local_key_allowed_is_a_config_error(tmp_path, lake):
    with pytest.raises(ConfigError, match="no tokenization key"):
        resolve_token_key(TokenizationSettings(allow_local_key=False), lake, environ={})
    assert not (tmp_path / "lake" / "_secrets").exists()


def test_no_local_key_is_generated_for_a_remote_lake():
    with pytest.raises(ConfigError, match="no tokenization key"):
        resolve_token_key(TokenizationSettings(), Lake.at("s3://bucket/lake"), environ={})


@pytest.fixture
def aws(monkeypatch):
    moto = pytest.importorskip("moto", reason="moto is not installed in this venv "
                                              "(pip install 'moto[server]>=5.0')")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        import boto3

        yield boto3.client("secretsmanager")


def test_key_from_secrets_manager(aws, lake):
    aws.create_secret(Name="lakehouse/token-key", SecretString=HEX_KEY)
    key = resolve_token_key(TokenizationSettings(secret_id="lakehouse/token-key"), lake,
                            environ={})
    assert key == bytes.fromhex(HEX_KEY)


def test_unknown_secret_is_a_config_error(aws, lake):
    with pytest.raises(ConfigError, match="cannot read the tokenization key from Secrets Manager"):
        resolve_token_key(TokenizationSettings(secret_id="lakehouse/absent"), lake, environ={})


def test_binary_key_from_secrets_manager(aws, lake):
    aws.create_secret(Name="lakehouse/binary-key", SecretBinary=bytes.fromhex(HEX_KEY))
    key = resolve_token_key(TokenizationSettings(secret_id="lakehouse/binary-key"), lake,
                            environ={})
    assert key == bytes.fromhex(HEX_KEY)


def test_short_binary_secret_is_a_config_error(aws, lake):
    aws.create_secret(Name="lakehouse/short-key", SecretBinary=b"12345678")
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        resolve_token_key(TokenizationSettings(secret_id="lakehouse/short-key"), lake, environ={})
