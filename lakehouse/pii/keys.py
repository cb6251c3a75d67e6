"""Where the tokenization key comes from: environment, key file, AWS Secrets Manager, or (local
environments only) a key generated once and kept with the lake."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from lakehouse.config import TokenizationSettings
from lakehouse.errors import ConfigError
from lakehouse.io.lake import Lake

log = logging.getLogger(__name__)
MIN_KEY_BYTES = 16


def _decode(text: str, origin: str) -> bytes:
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) >= 32 and len(text) % 2 == 0 else text.encode()
    except ValueError:
        key = text.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the tokenization key from {origin} is shorter than {MIN_KEY_BYTES} "
                          "bytes")
    return key


def _from_secrets_manager(secret_id: str) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"cannot read the tokenization key from Secrets Manager secret "
                          f"{secret_id!r}: {exc.__class__.__name__}") from None
    if response.get("SecretString"):
        return _decode(response["SecretString"], secret_id)
    key = bytes(response["SecretBinary"])
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the tokenization key from {secret_id} is shorter than "
                          f"{MIN_KEY_BYTES} bytes")
    return key


def resolve_token_key(settings: TokenizationSettings, lake: Lake,
                      environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key for card tokens; tokens only join across runs if this never changes."""
    env = os.environ if environ is None else environ
    if env.get(settings.key_env):
        return _decode(env[settings.key_env], f"${settings.key_env}")
    if settings.key_file:
        path = Path(settings.key_file).expanduser()
        try:
            return _decode(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read the tokenization key file {path}: "
                              f"{exc.strerror}") from None
    if settings.secret_id:
        return _from_secrets_manager(settings.secret_id)
    if settings.allow_local_key and lake.is_local:
        path = Path(lake.root) / "_secrets" / "token.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            log.warning("no tokenization key configured: generated a local one at %s "
                        "(set $%s in any shared environment)", path, settings.key_env)
        return _decode(path.read_text(encoding="utf-8"), str(path))
    raise ConfigError(f"no tokenization key: set ${settings.key_env}, tokenization.key_file or "
                      "tokenization.secret_id")
