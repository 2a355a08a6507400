"""The generic options: the command-line flags and environment variables a contract field may name.

One table, from which the CLI and the pytest plugin build their flags, and from which the settings
tell the user that a flag meant for another method is ignored. A contract field points at one of
these by its `option` (the dest below) and `env`; no method's field name is written here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenericOption:
    dest: str  # what a contract field's `option` names
    flag: str
    env: str
    metavar: str
    help: str  # what it is; the CLI and the plugin each add where else it may come from
    secret_file: bool = False  # the flag names a file holding a secret, never the secret itself


GENERIC_OPTIONS = (
    GenericOption("secure_login", "--secure-login", "KYREN_SECURE_LOGIN", "ID", "partner id"),
    GenericOption("user_id", "--user-id", "KYREN_USER_ID", "ID", "a TEST user id"),
    GenericOption("game_id", "--game-id", "KYREN_GAME_ID", "ID", "a game id, to also send valid requests with it"),
    GenericOption("token_file", "--token-file", "KYREN_TOKEN", "PATH", "file holding the token", secret_file=True),
)
