"""http_get: fetch a URL from loopback (or explicitly allowed) hosts only.

A host is checked before any connection: by name first (so a refused name is never even
resolved), then every address it resolves to. The same check runs inside the connector's
resolver, so the connection goes only to checked addresses (no DNS rebinding between check
and connect) and every redirect hop is checked too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import Field, field_validator
from yarl import URL

from nexforge.core.durations import Seconds
from nexforge.tools.base import Tool
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.schema import tool_from_function

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_REDIRECTS = {301, 302, 303, 307, 308}
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


class HttpOptions(CommonOptions):
    """``allow`` lists extra hostnames, IP addresses or CIDR networks."""

    allow: list[str] = Field(default_factory=list)
    max_bytes: int = Field(default=200_000, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    timeout_s: Seconds = 15.0

    @field_validator("allow")
    @classmethod
    def _entries_parse(cls, entries: list[str]) -> list[str]:
        HostPolicy.from_allow(entries)
        return entries


def _ip(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class HostPolicy:
    """Loopback always; named hosts may resolve to public addresses; networks by CIDR."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_allow(cls, entries: list[str]) -> HostPolicy:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                name = entry.lower().rstrip(".")
                if not name or not all(c.isalnum() or c in "-." for c in name):
                    raise ValueError(
                        f"allow entry {entry!r} is not a hostname, IP or network"
                    ) from None
                names.add(name)
        return cls(frozenset(names), tuple(networks))

    def refusal(self, host: str) -> str | None:
        """Why ``host`` may not be contacted (by its name or literal), or None."""
        ip = _ip(host)
        if ip is not None:
            return None if self.address_ok(host, ip) else f"host '{host}' is not allowed"
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost") or name in self.names:
            return None
        return f"host '{host}' is not allowed (only loopback hosts and the configured allow list)"

    def address_ok(self, host: str, ip: IPAddress) -> bool:
        # Only a name allowed explicitly may lead to public addresses; private ones need
        # a network entry, so a name cannot be pointed at internal services via DNS.
        by_name = host.lower().rstrip(".") in self.names
        return ip.is_loopback or any(ip in n for n in self.networks) or (by_name and ip.is_global)


class _PolicyResolver(AbstractResolver):
    """Resolves as usual, then refuses the connection if any address is not allowed."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        problem = self._policy.refusal(host)
        if problem is not None:
            raise OSError(problem)
        infos = await self._inner.resolve(host, port, family)
        for info in infos:
            ip = _ip(info["host"])
            if ip is None or not self._policy.address_ok(host, ip):
                raise OSError(f"host '{host}' resolves to a disallowed address {info['host']}")
        return infos

    async def close(self) -> None:
        await self._inner.close()


async def check_url(url: URL, policy: HostPolicy) -> None:
    """Raise ToolInputError unless ``url`` may be fetched; no traffic to refused hosts."""
    if url.scheme not in ("http", "https") or not url.host:
        raise ToolInputError(f"only http(s) URLs with a host can be fetched, not '{url}'")
    problem = policy.refusal(url.host)
    if problem is not None:
        raise ToolInputError(problem)
    if _ip(url.host) is not None:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, url.port or 0)
    except OSError as exc:
        raise ToolInputError(f"cannot resolve host '{url.host}': {exc}") from None
    for info in infos:
        ip = _ip(str(info[4][0]))
        if ip is None or not policy.address_ok(url.host, ip):
            raise ToolInputError(f"host '{url.host}' resolves to a disallowed address {ip}")


def make_http_get(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("http_get", HttpOptions, options)
    policy = HostPolicy.from_allow(opts.allow)

    async def http_get(url: str) -> str:
        """Fetch a URL with HTTP GET and return the status, content type and body text.

        Only local (loopback) servers and configured hosts can be reached.

        Args:
            url: An absolute http:// or https:// URL.
        """
        try:
            target = URL(url)
        except ValueError as exc:
            raise ToolInputError(f"invalid URL: {exc}") from None
        connector = aiohttp.TCPConnector(resolver=_PolicyResolver(policy), use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=opts.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(opts.max_redirects + 1):
                await check_url(target, policy)
                try:
                    async with session.get(target, allow_redirects=False) as resp:
                        location = resp.headers.get("Location")
                        if resp.status in _REDIRECTS and location:
                            target = resp.url.join(URL(location))
                            continue
                        return await _render(resp, opts.max_bytes)
                except aiohttp.ClientError as exc:
                    raise ToolInputError(f"request failed: {exc}") from None
        raise ToolInputError(f"too many redirects (more than {opts.max_redirects})")

    return tool_from_function(
        http_get,
        read_only=True,
        timeout_s=opts.timeout_s + 5,
        max_output_chars=opts.max_output_chars,
    )


async def _render(resp: aiohttp.ClientResponse, max_bytes: int) -> str:
    body = bytearray()
    while len(body) <= max_bytes and (chunk := await resp.content.read(65536)):
        body += chunk
    truncated = len(body) > max_bytes
    del body[max_bytes:]
    ctype = resp.headers.get("Content-Type", "")
    head = f"HTTP {resp.status} {resp.reason or ''}".rstrip() + f"\ncontent-type: {ctype}\n\n"
    if ctype and not ctype.lower().startswith(_TEXT_TYPES) and "+json" not in ctype:
        return head + f"(binary content, {len(body)}{'+' if truncated else ''} bytes, not shown)"
    try:
        text = body.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name from the server
        text = body.decode("utf-8", errors="replace")
    return head + text + (f"\n[... truncated at {max_bytes} bytes]" if truncated else "")
