"""The checks on what the client is pointed at: the target URL and a private CA bundle.

Both run once, before anything is sent (settings.py calls them to turn a bad option into a configuration
error), and each says what is wrong in one line that never echoes a password from the URL.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from kyren_conformance.redaction import REDACTED

__all__ = ["check_target_url", "read_extra_ca"]


def check_target_url(url: str) -> str:
    """The target URL without its trailing slash, or ValueError with one line saying what is wrong."""
    shown = _without_userinfo(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise ValueError(f"target URL {shown!r} has a bad port") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"target URL {shown!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"target URL {shown!r} has no host")
    if port == 0:
        raise ValueError(f"target URL {shown!r} has a bad port")
    if parts.query or parts.fragment or any(ch.isspace() for ch in url):
        raise ValueError(f"target URL {shown!r} must not hold a query, a fragment or spaces")
    return url.rstrip("/")


def _without_userinfo(url: str) -> str:
    # Error messages may be printed before any redactor exists: never echo a password from the URL.
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if sep and "@" in authority:
        return f"{scheme}://{REDACTED}@{authority.rsplit('@', 1)[1]}{slash}{tail}"
    return url


def read_extra_ca(path: str | None) -> str | None:
    """The PEM text of a private CA bundle (None for none), or ValueError with one line saying what is wrong."""
    if path is None:
        return None
    try:
        with open(path, encoding="ascii") as pem_file:
            pem = pem_file.read()
        ssl.create_default_context(cadata=pem)  # refuses a file with no usable certificate
    except ssl.SSLError:  # before OSError, its base class
        raise ValueError(f"CA bundle {path!r} holds no PEM certificate") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"CA bundle {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"CA bundle {path!r} holds no PEM certificate")
    return pem
