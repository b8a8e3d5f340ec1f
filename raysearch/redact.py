"""Masking secrets (URL passwords, password-like query parameters) in text before it is written or printed.

A search records its command line and its storage URLs in reports, CSVs and console lines, and the
reports are copied to shared storage; an RDB URL such as ``postgresql://user:pass@host/db`` would
put the password there. Every such string goes through :func:`redact` first:

- ``scheme://user:password@host`` becomes ``scheme://user:***@host`` (the user name and the host
  stay readable). The password runs up to the first ``@``, as SQLAlchemy parses it, and on over
  further ``@`` signs that come before the host (an unencoded ``@`` in a password); a ``:`` in a
  URL without a user (``http://host:8080/path``) is left alone unless an ``@`` follows it.
- ``?password=...`` / ``&password=...`` and the like (``passwd``, ``pwd``, ``secret``, ``token``,
  ``api_key``, ``access_key``, ``secret_access_key``, ``sslpassword``) become ``password=***``.

The alternative, keeping the secret out of the command line altogether, is the
``RAYSEARCH_OPTUNA_STORAGE`` environment variable of ``python -m raysearch.tune``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "redact", "redact_argv", "redact_obj"]

MASK = "***"
_KEYS = "password|passwd|pwd|secret|token|api_key|apikey|access_key|secret_access_key|sslpassword"


def _patterns(stop: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The URL-password and query-secret patterns for a text in which the characters ``stop`` end a URL."""
    url = re.compile(
        rf"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^{stop}:/@]*:)"  # scheme://user:
        rf"(?P<secret>[^{stop}@]*(?:@[^{stop}@/]*(?=@))*)"  # the password, up to the @ before the host
        r"@"
    )
    query = re.compile(rf"(?P<head>[?&;](?:{_KEYS})=)(?P<secret>[^&#;{stop}]*)", re.IGNORECASE)
    return url, query


_TEXT = _patterns(r"\s'\"<>`")  # running text or a shell-quoted command line: a URL ends at a space or quote
_TOKEN = _patterns(r"\n")  # one command-line argument: a password may hold spaces and quotes


def _sub(text: str, patterns: tuple[re.Pattern[str], re.Pattern[str]]) -> str:
    url, query = patterns
    text = url.sub(lambda m: f"{m['head']}{MASK}@", text)
    return query.sub(lambda m: f"{m['head']}{MASK}", text)


def redact(text: str) -> str:
    """``text`` with every URL password and password-like query value replaced by ``***``."""
    return _sub(text, _TEXT)


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line arguments, each redacted as one token (a password with spaces or quotes included);
    redact them before ``shlex.join``, whose quoting would hide such a password from :func:`redact`."""
    return [_sub(a, _TOKEN) for a in argv]


def redact_obj(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string inside it (dicts, lists and tuples are copied)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_obj(v) for v in value)
    return value
