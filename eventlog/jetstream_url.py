"""The address of a JetStream store: ``nats://host:port[,nats://host:port...]?options``.

Options (all optional): ``stream`` (name, default ``CHATLOG``), ``replicas`` (1-5; default
3 when the cluster has at least 3 servers, else 1), ``timeout`` (seconds per request,
default 5), ``append_timeout`` (seconds an append keeps retrying before it fails, default
10), ``creds`` (a credentials file), ``token``, ``user`` / ``password``, ``tls_ca``,
``tls_cert`` / ``tls_key`` (a client certificate). The query may follow any of the
comma-separated servers; ``tls://`` servers connect over TLS.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Final, TypeVar

import msgspec

from eventlog.errors import InvalidArgumentError

DEFAULT_STREAM: Final = "CHATLOG"
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_APPEND_TIMEOUT: Final = 10.0
SCHEMES: Final = ("nats", "tls")
N = TypeVar("N", int, float)
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OPTIONS: Final = frozenset(
    {
        "stream",
        "replicas",
        "timeout",
        "append_timeout",
        "creds",
        "token",
        "user",
        "password",
        "tls_ca",
        "tls_cert",
        "tls_key",
    }
)


class JetStreamAddress(msgspec.Struct, frozen=True):
    servers: tuple[str, ...]
    stream: str = DEFAULT_STREAM
    replicas: int | None = None  # None: chosen from the cluster's size
    timeout: float = DEFAULT_TIMEOUT
    append_timeout: float = DEFAULT_APPEND_TIMEOUT
    creds: str | None = None
    token: str | None = None
    user: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def display(self) -> str:
        """The address without secrets, for messages."""
        return f"{','.join(self.servers)} (stream {self.stream})"


def is_store_url(text: str) -> bool:
    return text.split("://", 1)[0].lower() in SCHEMES and "://" in text


def parse_store_url(url: str) -> JetStreamAddress:
    """Parse a store URL; InvalidArgumentError names what is wrong."""
    if not isinstance(url, str) or not is_store_url(url.strip()):
        raise InvalidArgumentError(
            f"not a NATS store URL: {url!r} (expected nats://host:port[,nats://...][?options])"
        )
    servers: list[str] = []
    options: dict[str, str] = {}
    for part in url.strip().split(","):
        parsed = urllib.parse.urlsplit(part.strip())
        if parsed.scheme.lower() not in SCHEMES or not parsed.hostname:
            raise InvalidArgumentError(f"not a NATS server address: {part!r}")
        try:
            port = parsed.port or 4222
        except ValueError:
            raise InvalidArgumentError(f"bad port in {part!r}") from None
        host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
        userinfo = ""
        if parsed.username:
            userinfo = urllib.parse.quote(urllib.parse.unquote(parsed.username), safe="")
            if parsed.password:
                userinfo += ":" + urllib.parse.quote(urllib.parse.unquote(parsed.password), safe="")
            userinfo += "@"
        servers.append(f"{parsed.scheme.lower()}://{userinfo}{host}:{port}")
        for key, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
            if key not in _OPTIONS:
                raise InvalidArgumentError(
                    f"unknown store option {key!r} (known: {', '.join(sorted(_OPTIONS))})"
                )
            options[key] = value
    stream = options.get("stream", DEFAULT_STREAM)
    if not _STREAM_NAME.fullmatch(stream):
        raise InvalidArgumentError(f"invalid stream name {stream!r} (letters, digits, _ and -)")
    return JetStreamAddress(
        servers=tuple(servers),
        stream=stream,
        replicas=_number(options, "replicas", int, 1, 5),
        timeout=_number(options, "timeout", float, 0.1, 600) or DEFAULT_TIMEOUT,
        append_timeout=_number(options, "append_timeout", float, 0.1, 600)
        or DEFAULT_APPEND_TIMEOUT,
        creds=options.get("creds") or None,
        token=options.get("token") or None,
        user=options.get("user") or None,
        password=options.get("password") or None,
        tls_ca=options.get("tls_ca") or None,
        tls_cert=options.get("tls_cert") or None,
        tls_key=options.get("tls_key") or None,
    )


def _number(options: dict[str, str], key: str, kind: type[N], low: N, high: N) -> N | None:
    text = options.get(key)
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise InvalidArgumentError(f"store option {key} must be a number, not {text!r}") from None
    if not low <= value <= high:
        raise InvalidArgumentError(f"store option {key} must be between {low} and {high}")
    return value
