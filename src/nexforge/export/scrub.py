"""Secrets out of exported data, each replaced by ``[REDACTED]``.

What is found, on each sample's JSON text:

- credentials by shape, with detect-secrets' own patterns where it has one (AWS key ids
  and quoted AWS secrets, passwords in URLs, Stripe live keys, GitLab, Slack tokens and
  webhooks, JWTs, GitHub, npm ``.npmrc`` tokens, PyPI, SendGrid, Square, Azure storage
  keys, PuTTY keys) and ours where it has none: ``Bearer`` and ``Basic`` credentials in any
  case, OpenAI/Anthropic ``sk-``, GitHub ``github_pat_``, Hugging Face ``hf_``, Google
  ``AIza`` and ``ya29.``, bare ``npm_`` tokens, bare 40-character AWS secret keys, private
  key blocks (from the BEGIN line over the key material, so also one an output cap cut
  short, which has no END line). A
  token runs on past where a fixed-length pattern stops (Stripe keys grew longer; a JWT's
  signature);
- assignments to a secret-named key (detect-secrets' keyword list plus ``token``,
  ``passphrase``, ``pw``, ``pass``, ``credentials``: ``DB_PASSWORD=``, ``"apiKey": "…"``,
  ``aws_secret_access_key = …``): the name stays, the value goes. A quoted value goes to
  its closing quote; an unquoted one that starts a line or field goes to the end of it, so
  a multi-word password goes whole; one in the middle of prose is one word;
- the values of secret-named environment variables of this process.

A secret stays inside one JSON string (a span is cut at a ``"`` or backslash a pattern ran
into), so ``[REDACTED]`` needs no escaping.

Speed matters (every sample passes through here). ``re`` is fast on a pattern that starts
with one literal (a substring search) and slow on an alternation of different ones, so
the prefixed kinds are not scanned one by one: one ``bytes.translate`` marks token
characters, the runs of 20 or more are found with ``bytes.find``, and each run's first
two characters pick the few patterns to try at its start; runs of 40+ base64 characters
are found the same way for the kinds whose secret is one. The other kinds each start
with a literal of their own. detect-secrets is imported on first use (~0.2 s).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"
MIN_ENV_VALUE = 8
SECRET_ENV_NAME = re.compile(
    r"(?:^|[_.-])[A-Z0-9]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIAL)S?(?:$|[_.-])",
    re.IGNORECASE,
)
"""A name part (between ``_ . -``) ending in a secret word: ``OPENAI_API_KEY``, ``PGPASSWORD``,
``DB_PASS``, ``GOOGLE_CREDENTIALS``; not ``TOKENIZERS_PARALLELISM``, ``TOX_TESTENV_PASSENV``."""


@dataclass(frozen=True)
class TokenShape:
    """One kind of credential, found by a regular expression."""

    kind: str
    pattern: re.Pattern[str]
    prefixes: tuple[str, ...] = ()
    """What its tokens start with: tried at the start of each token run beginning so.
    A shape with neither prefixes nor ``near_base64_run`` scans the whole text (its pattern
    must start with a literal)."""
    group: int | None = 0
    """The group holding the secret (0: the whole match; None: whichever group matched)."""
    near_base64_run: bool = False
    """Tried only around runs of 40+ base64 characters (its secret is one): no scan."""
    lowered: bool = False
    """Scan the lower-cased text (the pattern is lower case): a case-insensitive kind."""
    guard: str | None = None
    """A substring the text must hold before this (slow) pattern scans it."""
    word_start: bool = False
    """A scanned match may not continue a word ("nobearer …")."""
    extend: bool = True
    """The secret runs on over token characters where the pattern stopped."""
    key_block: bool = False
    """The match starts a key block: the secret runs on over its key material."""
    valid: Callable[[str], bool] | None = None


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+/=~")
_KEY_MATERIAL = re.compile(
    r"(?:\\[rn]|[\r\n]|[A-Za-z0-9+/=]|[A-Za-z-]*:[^\\\"\r\n]*)*"
    r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)?"
)
"""What follows a key's first line: base64 lines, ``Name: value`` headers (PEM, PuTTY) and
the END line; it stops at anything else, such as the marker of an output cap that cut the
key short or the next turn of a rendered conversation."""


def _authorization_credentials(value: str) -> bool:
    """A token (not an English word: "the bearer of", "basic information") or base64 of
    ``user:password``."""
    if len(value) >= 8 and not value.isalpha():
        return True
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


@functools.cache
def token_shapes() -> tuple[TokenShape, ...]:
    """Every credential shape, detect-secrets' first (imported here, on first use)."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector

    def ds(plugin: type[Any], index: int = 0) -> re.Pattern[str]:
        pattern: re.Pattern[str] = list(plugin.denylist)[index]
        return pattern

    def joined(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))

    def without_flags(pattern: re.Pattern[str]) -> re.Pattern[str]:
        # Case-insensitive matching is slow to scan with; tokens of these kinds are written
        # in lower case (the token run carries on over the rest), webhooks in their own case.
        return re.compile(pattern.pattern)

    own = re.compile
    gitlab = list(GitLabTokenDetector.denylist)
    gitlab_prefixes = ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-")
    return (
        # detect-secrets' patterns
        TokenShape("aws key id", ds(AWSKeyDetector), ("A3T", "ABIA", "ACCA", "AKIA", "ASIA")),
        TokenShape(
            "aws secret (quoted)",
            without_flags(ds(AWSKeyDetector, 1)),
            group=1,
            lowered=True,
            near_base64_run=True,
        ),
        TokenShape("password in a url", ds(BasicAuthDetector), group=1, extend=False),
        TokenShape("stripe", ds(StripeDetector), ("sk_live_", "rk_live_")),
        TokenShape(
            "gitlab",
            joined(gitlab),
            (*gitlab_prefixes, "glptt-", "glagent-", "gloas-", "GR1348941"),
        ),
        TokenShape("slack", without_flags(ds(SlackDetector)), ("xox",)),
        TokenShape("slack webhook", without_flags(ds(SlackDetector, 1))),
        TokenShape("jwt", ds(JwtTokenDetector), ("eyJ",), valid=JwtTokenDetector.is_formally_valid),
        TokenShape("github", ds(GitHubTokenDetector), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
        TokenShape("npmrc", ds(NpmDetector), group=1, guard="_authToken="),
        TokenShape("pypi", joined(list(PypiTokenDetector.denylist)), ("pypi-",)),
        TokenShape("sendgrid", ds(SendGridDetector), ("SG.",)),
        TokenShape("square", ds(SquareOAuthDetector), ("sq0csp-",)),
        TokenShape("azure storage", ds(AzureStorageKeyDetector), near_base64_run=True),
        TokenShape(
            "putty key", ds(PrivateKeyDetector, 7), ("PuTTY-User-Key-File-",), key_block=True
        ),
        # ours
        TokenShape(
            "private key",
            own(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"),
            key_block=True,
        ),
        TokenShape("github fine-grained", own(r"github_pat_[A-Za-z0-9_]{20,}"), ("github_pat_",)),
        TokenShape("openai / anthropic", own(r"sk-[A-Za-z0-9_\-]{20,}"), ("sk-",)),
        TokenShape("hugging face", own(r"hf_[A-Za-z0-9]{30,}"), ("hf_",)),
        TokenShape("google api key", own(r"AIza[0-9A-Za-z_\-]{35}"), ("AIza",)),
        TokenShape("google oauth", own(r"ya29\.[0-9A-Za-z_\-]{20,}"), ("ya29.",)),
        TokenShape("npm", own(r"npm_[A-Za-z0-9]{36}"), ("npm_",)),
        TokenShape(
            "bearer or basic",
            own(r"bearer[ \t]+([a-z0-9._~+/\-]+=*)|basic[ \t]+([a-z0-9+/]+={0,2})"),
            group=None,
            lowered=True,
            word_start=True,
            valid=_authorization_credentials,
        ),
    )


@functools.cache
def _by_head() -> dict[str, tuple[tuple[str, TokenShape], ...]]:
    """The prefixed shapes by the first two characters of their prefixes."""
    index: dict[str, list[tuple[str, TokenShape]]] = {}
    for shape in token_shapes():
        for prefix in shape.prefixes:
            index.setdefault(prefix[:2], []).append((prefix, shape))
    return {head: tuple(found) for head, found in index.items()}


def _scanned_shapes() -> tuple[TokenShape, ...]:
    return tuple(s for s in token_shapes() if not s.prefixes and not s.near_base64_run)


def _base64_run_shapes() -> tuple[TokenShape, ...]:
    return tuple(s for s in token_shapes() if s.near_base64_run)


# --- token runs -------------------------------------------------------------------------

_RUN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."
_RUN_MASK = bytes(1 if chr(b) in _RUN_CHARS else 0 for b in range(256))
_MIN_RUN = b"\x01" * 20
"""No prefixed token is shorter (an AWS key id, the shortest, has 20 characters)."""


def _token_runs(mask: bytes, text: str) -> list[int]:
    """Where the runs of 20+ token characters start (past a JSON escape such as ``\\n``)."""
    starts: list[int] = []
    at = mask.find(_MIN_RUN)
    while at >= 0:
        start = at
        if at > 0 and text[at - 1] == "\\" and _escaped(text, at):
            start += 5 if text[at] == "u" else 1
        starts.append(start)
        end = mask.find(b"\x00", at)
        if end < 0:
            break
        at = mask.find(_MIN_RUN, end)
    return starts


# --- runs of base64: bare AWS secret keys, and the shapes whose secret is such a run --------

_BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
_BASE64_MASK = bytes(1 if chr(b) in _BASE64_CHARS else 0 for b in range(256))
_BASE64_RUN = b"\x01" * 40
_CONTEXT = 64
"""How far before a run a ``near_base64_run`` pattern may start."""


def _base64_run_spans(
    ascii_text: bytes, text: str, lowered: str, shapes: tuple[TokenShape, ...]
) -> list[tuple[int, int]]:
    """Runs of 40+ base64 characters that a shape around them claims, or that have the
    shape of an AWS secret access key: exactly 40, mixed case with digits (not hex), at
    most two ``/`` (not a path), not followed by ``=`` padding (not a longer blob)."""
    spans: list[tuple[int, int]] = []
    runs = ascii_text.translate(_BASE64_MASK)
    at = runs.find(_BASE64_RUN)
    while at >= 0:
        end = runs.find(b"\x00", at)
        end = len(runs) if end < 0 else end
        claimed = None
        for shape in shapes:
            source = lowered if shape.lowered else text
            match = shape.pattern.search(source, max(0, at - _CONTEXT), end + 1)
            claimed = None if match is None else _token_span(text, shape, match)
            if claimed is not None and claimed[0] < end and claimed[1] > at:
                break
            claimed = None
        candidate = text[at:end]
        if claimed is not None:
            spans.append(claimed)
        elif (
            end - at == 40
            and text[end : end + 1] != "="
            and candidate.count("/") < 3
            and any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            spans.append((at, end))
        at = runs.find(_BASE64_RUN, end)
    return spans


# --- assignments ------------------------------------------------------------------------

_EXTRA_KEYWORDS = (
    "token",
    "passphrase",
    "pass",
    "pw",
    "credentials?",
    "access_?key",
    "secret_?key",
    "signing_?key",
    "encryption_?key",
    "master_?key",
    "session_?key",
)
_ANY_PREFIX_KEYWORDS = ("password", "passwd", "passphrase", "secret", "token")
"""Secret words that end a name however it begins: ``PGPASSWORD``, ``clientsecret``."""
_STEMS = tuple(
    re.compile(stem) for stem in ("p(?:ass|w)", "secret", "token", "key", "c(?:redential|ontrase)")
)
"""Lower-cased pieces of every keyword, where an assignment can be (each starts with a
literal, for speed)."""
_NAME_CHARS = r"[A-Za-z0-9_.\-\u00f1\u00d1]"
_NAME_REST = re.compile(f"{_NAME_CHARS}*")
_NAME_CHAR_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-ñÑ")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_OPERATOR = re.compile(r"(\\?[\"'])?[ \t]*(:=|=>|[:=])[ \t]*")
_FIELD_OPENERS = frozenset("\"'{[(,;&?-*\n\r")
_TRAILING = ".,;:!?)'"
_NOT_VALUES = frozenset(
    {"null", "none", "nil", "true", "false", "undefined", "string", "str", "bytes", "int"}
)
_PLACEHOLDER_STARTS = ("<", "[", "{", "$", "%", "*", "`", REDACTED)
_PROSE_WORDS = frozenset(
    "a an the is are be to of and or not at in on for with must should your you its".split()  # noqa: SIM905
)


@functools.cache
def _secret_name_pattern() -> re.Pattern[str]:
    """A normalized name (snake_case, lower) that ends in a secret keyword."""
    from detect_secrets.plugins.keyword import DENYLIST

    words = "|".join((*DENYLIST, *_EXTRA_KEYWORDS))
    anywhere = "|".join(_ANY_PREFIX_KEYWORDS)
    return re.compile(rf"(?:(?:^|_)(?:{words})|(?:{anywhere}))\d*$")


@functools.cache
def _keyword_endings() -> tuple[str, ...]:
    """Every way a keyword can end a lower-cased ASCII name (``api_key``, ``apikey``,
    ``api-key``, ``contrase?a``): a cheap test before the name's start is looked for."""
    from detect_secrets.plugins.keyword import DENYLIST

    endings: set[str] = set()
    for word in (*DENYLIST, *_EXTRA_KEYWORDS, *_ANY_PREFIX_KEYWORDS):
        spellings = {""}
        for index, char in enumerate(word):
            if char == "?":
                continue
            options = {char if char.isascii() else "?"}
            if word[index + 1 : index + 2] == "?":
                options |= {"", "-", "."} if char == "_" else {""}
            spellings = {start + option for start in spellings for option in options}
        endings |= spellings - {""}
    return tuple(sorted(endings))


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    """``DB_PASSWORD``, ``apiKey``, ``aws_secret_access_key``; not ``rollout_key``."""
    normalized = _CAMEL.sub("_", name).lower().replace("-", "_").replace(".", "_")
    return _secret_name_pattern().search(normalized) is not None


def _string_end(text: str, start: int) -> int:
    """The index of the first unescaped ``"`` at or after ``start`` (``len(text)``: none)."""
    at = text.find('"', start)
    while at >= 0:
        if not _escaped(text, at):
            return at
        at = text.find('"', at + 1)
    return len(text)


def _escaped(text: str, index: int) -> bool:
    """Whether ``text[index]`` follows an odd number of backslashes (a JSON escape)."""
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _name_start(text: str, at: int) -> tuple[int, bool]:
    """Where the name holding ``text[at]`` starts, and whether it starts a line or field."""
    start = at
    while start > 0 and text[start - 1] in _NAME_CHAR_SET:
        start -= 1
    if start > 0 and text[start - 1] == "\\" and _escaped(text, start):
        # The n of a \n (t of \t…) is no part of the name: it starts a line.
        return start + (5 if text[start] == "u" else 1), text[start] in "nrt"
    previous = start - 1
    while previous >= 0 and text[previous] in " \t":
        previous -= 1
    if previous < 0 or text[previous] in _FIELD_OPENERS:
        return start, True
    return start, text[previous] in "nrt" and _escaped(text, previous)


def _value_span(text: str, at: int, operator: str, field_start: bool) -> tuple[int, int] | None:
    """The value assigned at ``at``: quoted, or (6 characters at least) the rest of its
    field, or one word."""
    limit = _string_end(text, at)
    if text.startswith('\\"', at) or text.startswith("'", at):
        quote = '\\"' if text[at] == "\\" else "'"
        end = text.find(quote, at + len(quote), limit)
        return (at + len(quote), end) if end >= 0 else None
    if at < len(text) and text[at] == '"':  # the value of a JSON key: the whole string
        return at + 1, _string_end(text, at + 1)
    end = at
    if field_start:
        stops = '\\"\n\r&;,' if operator == "=" else '\\"\n\r'
        while end < limit and text[end] not in stops:
            end += 1
        while end > at and text[end - 1] in " \t" + _TRAILING:
            end -= 1
        return (at, end) if end - at >= 6 else None
    while end < limit and not text[end].isspace() and text[end] != "\\":
        end += 1
    while end > at and text[end - 1] in _TRAILING:
        end -= 1
    word = text[at:end]
    # "password: requires the old one" is prose, not a password.
    prose = word.isalpha() and word.islower() and text[end : end + 1] == " "
    if len(word) < 6 or (prose and text[end + 1 : end + 2].islower()):
        return None
    return at, end


def _is_value(value: str) -> bool:
    """Not a placeholder, a type (``api_key: str | None``), code (``token =
    secrets.token_urlsafe(16)``) or prose (``password: requires the old one``)."""
    words = value.split()
    return (
        len(value) >= 3
        and value.lower().rstrip(_TRAILING) not in _NOT_VALUES
        and not value.startswith(_PLACEHOLDER_STARTS)
        and "(" not in value
        and ")" not in value
        and not (len(words) > 1 and words[1] == "|")
        and not (value.islower() and any(w in _PROSE_WORDS for w in words))
    )


def _assignment_spans(text: str, lowered: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    seen: set[int] = set()
    endings = _keyword_endings()
    for stem in _STEMS:
        first = stem.search(lowered)
        if first is None:
            continue
        for found in stem.finditer(lowered, first.start()):
            rest = _NAME_REST.match(text, found.end())
            end = found.end() if rest is None else rest.end()
            if end in seen:
                continue
            seen.add(end)
            operator = _OPERATOR.match(text, end)
            # After a JSON key only a string can be a secret: not null, true, 42 or {...}.
            after = operator.end() if operator is not None else 0
            if operator is None or (operator.group(1) == '"' and text[after : after + 1] != '"'):
                continue
            last = end
            while last > found.start() and lowered[last - 1].isdigit():
                last -= 1
            if not lowered.endswith(endings, max(0, last - 24), last):
                continue
            start, field_start = _name_start(text, found.start())
            if not _is_secret_name(text[start:end]):
                continue
            span = _value_span(text, operator.end(), operator.group(2), field_start)
            if span is not None and _is_value(text[span[0] : span[1]]):
                spans.append(span)
    return spans


# --- the scrubber -----------------------------------------------------------------------


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    """Values (>= 8 chars) of variables whose names look secret, longest first."""
    values = {
        value
        for name, value in environ.items()
        if SECRET_ENV_NAME.search(name) and len(value) >= MIN_ENV_VALUE
    }
    return sorted(values, key=len, reverse=True)


def _inside_word(text: str, start: int) -> bool:
    """Whether ``text[start]`` continues a word (a JSON escape such as ``\\n`` does not)."""
    if start == 0:
        return False
    before = text[start - 1]
    if before.isalnum():
        return not (start > 1 and text[start - 2] == "\\")
    return before == "_"


def _token_span(text: str, shape: TokenShape, match: re.Match[str]) -> tuple[int, int] | None:
    if shape.word_start and _inside_word(text, match.start()):
        return None
    start, end = match.span(match.lastindex or 0 if shape.group is None else shape.group)
    if shape.key_block:
        material = _KEY_MATERIAL.match(text, end)
        end = end if material is None else material.end()
        while text[end - 1] in "\r\n" or text[end - 2 : end] in ("\\n", "\\r"):
            end -= 1 if text[end - 1] in "\r\n" else 2  # the line break after it stays
        return start, end
    if shape.extend:
        while end < len(text) and text[end] in _TOKEN_CHARS:
            end += 1
    # Stay inside the JSON string: a pattern may run into a quote or an escape.
    for stop in ('"', "\\"):
        cut = text.find(stop, start, end)
        if cut >= 0:
            end = cut
    if end <= start or (shape.valid is not None and not shape.valid(text[start:end])):
        return None
    return start, end


class Scrubber:
    """Replace secrets with ``[REDACTED]``; ``environ`` defaults to the process environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._by_head = _by_head()
        self._scanned = _scanned_shapes()
        self._near_base64_runs = _base64_run_shapes()
        _secret_name_pattern()
        _keyword_endings()
        # Values as they appear inside a JSON string (quotes and backslashes escaped).
        self._literals = {
            json.dumps(value, ensure_ascii=False)[1:-1]
            for value in secret_env_values(os.environ if environ is None else environ)
        }
        # One pattern per value: each a literal, found fast (an alternation of them is not).
        self._env_patterns = [re.compile(re.escape(v)) for v in self._literals]

    def scrub(self, text: str) -> tuple[str, int]:
        """``text`` with every secret replaced, and how many were."""
        # ASCII with one "?" per other character: offsets stay those of ``text``.
        ascii_text = text.encode("ascii", "replace")
        lowered = ascii_text.lower().decode("ascii")
        spans: list[tuple[int, int]] = []
        for start in _token_runs(ascii_text.translate(_RUN_MASK), text):
            for prefix, shape in self._by_head.get(text[start : start + 2], ()):
                match = shape.pattern.match(text, start) if text.startswith(prefix, start) else None
                span = None if match is None else _token_span(text, shape, match)
                if span is not None:
                    spans.append(span)
                    break
        for shape in self._scanned:
            if shape.guard is not None and shape.guard not in text:
                continue
            source = lowered if shape.lowered else text
            first = shape.pattern.search(source)  # cheaper than an iterator when none
            if first is None:
                continue
            for match in shape.pattern.finditer(source, first.start()):
                span = _token_span(text, shape, match)
                if span is not None:
                    spans.append(span)
        for pattern in self._env_patterns:
            spans += [m.span() for m in pattern.finditer(text)]
        spans += _assignment_spans(text, lowered)
        spans += _base64_run_spans(ascii_text, text, lowered, self._near_base64_runs)
        if not spans:
            return text, 0
        spans.sort()
        pieces: list[str] = []
        done = found = 0
        for start, end in spans:
            if start < done:  # overlaps the previous secret: one secret, redacted once
                done = max(done, end)
                continue
            pieces += [text[done:start], REDACTED]
            done = end
            found += 1
        return "".join([*pieces, text[done:]]), found

    def scrub_value(self, value: Any) -> tuple[Any, int]:
        """``value`` with each string in it scrubbed on its own (the slow, always-valid path).

        For the rare text where a fast whole-text match broke the JSON (an env value that
        is also a number, or that ends inside an escape): a string that cannot be scrubbed
        cleanly is replaced whole.
        """
        if isinstance(value, str):
            scrubbed, found = self.scrub(json.dumps(value, ensure_ascii=False))
            if not found:
                return value, 0
            try:
                return json.loads(scrubbed), found
            except ValueError:
                return REDACTED, found
        if isinstance(value, dict):
            pairs = [(key, self.scrub_value(item)) for key, item in value.items()]
            return {key: item for key, (item, _) in pairs}, sum(n for _, (_, n) in pairs)
        if isinstance(value, list):
            items = [self.scrub_value(item) for item in value]
            return [item for item, _ in items], sum(n for _, n in items)
        return value, 0
