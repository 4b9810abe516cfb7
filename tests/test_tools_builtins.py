"""Built-in tools through the public API: make_builtin + execute_tool, real files and servers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nexforge.tools import (
    BUILTINS,
    FINISH_TOOL_NAME,
    ToolContext,
    ToolOutcome,
    execute_tool,
    make_builtin,
    make_run_workspace,
    resolve_in_workspace,
)
from nexforge.tools.builtins.http import HostPolicy, _ip


@pytest.fixture
def ctx() -> Iterator[ToolContext]:
    path = make_run_workspace()
    yield ToolContext(workspace=path, run_id="r1")
    shutil.rmtree(path, ignore_errors=True)


async def call(
    name: str, ctx: ToolContext, options: dict[str, Any] | None = None, **arguments: Any
) -> ToolOutcome:
    return await execute_tool(make_builtin(name, options), arguments, ctx)


def test_registry_flags_and_descriptions() -> None:
    read_only = {"read_file", "list_dir", "search_files", "http_get", "finish"}
    for name in BUILTINS:
        options = {"database": "x.db"} if name == "sqlite_query" else None
        tool = make_builtin(name, options)
        assert tool.name == name
        assert len(tool.spec.description) > 30, name
        assert tool.spec.read_only == (name in read_only | {"sqlite_query"}), name
    assert (
        make_builtin("sqlite_query", {"database": "x", "readonly": False}).spec.read_only is False
    )
    assert FINISH_TOOL_NAME == "finish"


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("nope", None, "unknown built-in tool 'nope' (known: finish, http_get"),
        ("read_file", {"colour": 1}, "built-in tool 'read_file' has no option 'colour'"),
        ("run_shell", {"timeout_s": -1}, "option 'timeout_s': Input should be greater than 0"),
        ("sqlite_query", {}, "option 'database': Field required"),
        ("http_get", {"allow": ["bad host!"]}, "allow entry 'bad host!' is not a hostname"),
    ],
)
def test_make_builtin_errors(name: str, options: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make_builtin(name, options)
    assert message in str(info.value)


# --- files -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "link/passwd", "esc"])
async def test_paths_outside_the_workspace_are_refused(ctx: ToolContext, path: str) -> None:
    (ctx.workspace / "link").symlink_to("/etc")
    (ctx.workspace / "esc").symlink_to("/etc/passwd")

    for tool, extra in [("read_file", {}), ("write_file", {"content": "x"}), ("list_dir", {})]:
        outcome = await call(tool, ctx, path=path, **extra)
        assert outcome == ToolOutcome(f"path '{path}' escapes the workspace", is_error=True)
    assert (await call("search_files", ctx, pattern="root", path=path)).is_error


def test_absolute_paths_inside_the_workspace_are_allowed(ctx: ToolContext) -> None:
    inside = str(ctx.workspace / "sub" / "f.txt")
    assert resolve_in_workspace(ctx.workspace, inside) == Path(os.path.realpath(inside))


async def test_write_then_read_with_paging(ctx: ToolContext) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 11))
    wrote = await call("write_file", ctx, path="deep/dir/notes.txt", content=text)
    assert wrote.content == "wrote 71 chars to 'deep/dir/notes.txt'"

    page = await call("read_file", ctx, path="deep/dir/notes.txt", offset_line=3, max_lines=2)
    assert page.content == "line 3\nline 4\n\n[... more lines; continue with offset_line=5]"
    tail = await call("read_file", ctx, path="deep/dir/notes.txt", offset_line=9)
    assert tail.content == "line 9\nline 10\n"


async def test_read_file_errors(ctx: ToolContext) -> None:
    (ctx.workspace / "bin").write_bytes(b"\x00\x01\x02")
    (ctx.workspace / "d").mkdir()
    assert (await call("read_file", ctx, path="missing")).content == (
        "no such file or directory: 'missing'"
    )
    assert (await call("read_file", ctx, path="bin")).content == "'bin' is a binary file"
    assert (await call("read_file", ctx, path="d")).content == "'d' is a directory; use list_dir"


async def test_only_regular_files_and_directories_are_opened(ctx: ToolContext) -> None:
    # A FIFO nobody writes (or reads) would block an ordinary open for good.
    os.mkfifo(ctx.workspace / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(ctx.workspace / "sock"))
        for name in ("fifo", "sock"):
            for tool, extra in [("read_file", {}), ("write_file", {"content": "x"})]:
                outcome = await asyncio.wait_for(call(tool, ctx, path=name, **extra), 30)
                assert outcome.is_error and "not a regular file" in outcome.content, outcome
    assert (await call("search_files", ctx, pattern="x")).content == "no matches"


async def test_links_inside_the_workspace_are_not_followed(ctx: ToolContext) -> None:
    (ctx.workspace / "real").mkdir()
    (ctx.workspace / "real" / "f.txt").write_text("text\n")
    (ctx.workspace / "dir_link").symlink_to("real")
    (ctx.workspace / "file_link").symlink_to("real/f.txt")
    for tool, path in [("read_file", "file_link"), ("read_file", "dir_link/f.txt")]:
        outcome = await call(tool, ctx, path=path)
        assert outcome.content == (
            f"path '{path}' is or passes through a symbolic link; file tools do not follow links"
        )
    assert (await call("list_dir", ctx)).content == "dir_link\nfile_link\nreal/"
    assert (
        await call("read_file", ctx, path=str(ctx.workspace / "real/f.txt"))
    ).content == "text\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can link any file; the tools run as it")
async def test_a_hard_link_to_a_file_of_another_owner_is_refused(
    ctx: ToolContext, tmp_path: Path
) -> None:
    (tmp_path / "roots.txt").write_text("root's\n")  # /tmp and the workspace: one filesystem?
    try:
        os.link(tmp_path / "roots.txt", ctx.workspace / "hard.txt")
    except OSError:
        pytest.skip("the workspace is on another filesystem than pytest's folder")
    for tool, extra in [("read_file", {}), ("write_file", {"content": "x"})]:
        outcome = await call(tool, ctx, path="hard.txt", **extra)
        assert "is a hard link to a file the workspace's owner does not own" in outcome.content
    assert (tmp_path / "roots.txt").read_text() == "root's\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership hand-over applies only as root")
async def test_files_written_as_root_are_writable_by_the_shell_user(ctx: ToolContext) -> None:
    await call("write_file", ctx, path="a/b.txt", content="one\n")
    owner = ctx.workspace.stat().st_uid
    assert owner != 0
    assert (ctx.workspace / "a").stat().st_uid == owner
    assert (ctx.workspace / "a" / "b.txt").stat().st_uid == owner

    shell = await call("run_shell", ctx, command="echo two >> a/b.txt && touch a/c")
    assert shell.content == "exit code: 0\n(no output)"
    assert (ctx.workspace / "a" / "b.txt").read_text() == "one\ntwo\n"


async def test_list_dir_is_sorted_and_marks_directories(ctx: ToolContext) -> None:
    for name in ["b.txt", "a.txt"]:
        (ctx.workspace / name).write_text("")
    (ctx.workspace / "zdir").mkdir()
    (ctx.workspace / "adir").mkdir()
    assert (await call("list_dir", ctx)).content == "a.txt\nadir/\nb.txt\nzdir/"
    assert (await call("list_dir", ctx, path="adir")).content == "(empty directory)"


async def test_search_files(ctx: ToolContext) -> None:
    (ctx.workspace / "src").mkdir()
    (ctx.workspace / "src" / "a.py").write_text("import os\ndef main():\n    pass\n")
    (ctx.workspace / "notes.md").write_text("def in markdown\n")
    (ctx.workspace / ".git").mkdir()
    (ctx.workspace / ".git" / "x.py").write_text("def hidden\n")

    found = await call("search_files", ctx, pattern=r"^def \w+")
    assert found.content == "notes.md:1: def in markdown\nsrc/a.py:2: def main():"
    only_py = await call("search_files", ctx, pattern="def", glob="*.py")
    assert only_py.content == "src/a.py:2: def main():"
    assert (await call("search_files", ctx, pattern="zzz")).content == "no matches"
    bad = await call("search_files", ctx, pattern="(")
    assert bad.is_error and bad.content.startswith("invalid regular expression:")

    many = "\n".join(["hit"] * 50)
    (ctx.workspace / "many.txt").write_text(many)
    capped = await call("search_files", ctx, {"max_results": 5}, pattern="hit")
    assert capped.content.splitlines()[-1] == "[... stopped after 5 matches]"
    assert len(capped.content.splitlines()) == 6


async def test_search_files_speaks_grep_extended_regex(ctx: ToolContext) -> None:
    (ctx.workspace / "a:b.txt").write_text("id 42\nword\n")
    (ctx.workspace / "link.txt").symlink_to(ctx.workspace / "a:b.txt")

    found = await call("search_files", ctx, pattern=r"^[a-z]+\s[0-9]{2}$")
    assert found.content == "a:b.txt:1: id 42"  # the linked file is searched once
    refused = await call("search_files", ctx, pattern=r"\d+")
    assert refused == ToolOutcome(
        r"grep -E has no \d or \D; write [0-9] or [^0-9] instead", is_error=True
    )
    assert (await call("search_files", ctx, pattern=r"\\d")).content == "no matches"
    assert "POSIX extended regular expression" in make_builtin("search_files").spec.description


@pytest.mark.parametrize(
    ("pattern", "answers"),
    [
        # Exponential for a backtracking engine like Python's re, linear for grep's DFA.
        ("(a+)+$", ("no matches",)),
        # Backreferences need backtracking in grep too: killed at the deadline (or, with a
        # smarter grep, answered: every line matches at its end).
        (r"(a*)*\1$", ("search timed out after 2s", "big.txt:1: aaa")),
    ],
)
async def test_catastrophic_pattern_does_not_stall_other_runs(
    ctx: ToolContext, pattern: str, answers: tuple[str, ...]
) -> None:
    (ctx.workspace / "big.txt").write_text(("a" * 5000 + "b\n") * 200)
    search = asyncio.create_task(call("search_files", ctx, {"timeout_s": 2}, pattern=pattern))
    ticks = 0
    while not search.done():
        ticks += 1
        await asyncio.sleep(0)
    outcome = search.result()

    assert ticks > 1, "the event loop served nothing else while the search ran"
    # Our own deadline or a result, never the executor's backstop timeout.
    assert outcome.content.startswith(answers), outcome.content[:200]


# --- processes ---------------------------------------------------------------------------


async def test_run_shell_and_run_python(ctx: ToolContext) -> None:
    shell = await call("run_shell", ctx, command="echo hi; echo err >&2; exit 2")
    assert shell == ToolOutcome("exit code: 2\n--- stdout ---\nhi\n--- stderr ---\nerr")

    py = await call("run_python", ctx, code="import os\nprint(os.getcwd())")
    assert py.content == f"exit code: 0\n--- stdout ---\n{ctx.workspace.resolve()}"


async def test_run_shell_timeout_is_an_error_with_partial_output(ctx: ToolContext) -> None:
    # 2 s: ample for bash to print before the deadline on a loaded machine.
    outcome = await call("run_shell", ctx, {"timeout_s": 2}, command="echo started; sleep 100")
    assert outcome == ToolOutcome(
        "timed out after 2s (process group killed)\n--- stdout ---\nstarted", is_error=True
    )


@pytest.mark.parametrize("name", ["run_shell", "run_python"])
def test_process_tools_describe_only_what_is_always_enforced(name: str) -> None:
    description = make_builtin(name, {"timeout_s": 7, "max_output_chars": 123}).spec.description
    for promise in ["workspace directory", "clean environment", "after 7s", "123 characters"]:
        assert promise in description
    # Network and user isolation depend on the host (root, unshare): not promised.
    assert "network" not in description and "unprivileged" not in description


# --- sqlite ------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO items (name, price) VALUES (?, ?)",
            [("apple", 1.5), ("pear", None), ("fig|jam", 3.0)],
        )
    conn.close()
    return path


async def test_sqlite_select_as_table(ctx: ToolContext, db: Path) -> None:
    tool = make_builtin("sqlite_query", {"database": db.name}, base_dir=db.parent)
    outcome = await execute_tool(tool, {"sql": "SELECT name, price FROM items ORDER BY id"}, ctx)
    assert outcome.content == "name | price\napple | 1.5\npear | NULL\nfig\\|jam | 3.0\n(3 rows)"

    capped = make_builtin("sqlite_query", {"database": str(db), "max_rows": 2})
    outcome = await execute_tool(capped, {"sql": "SELECT id FROM items"}, ctx)
    assert outcome.content == "id\n1\n2\n(first 2 rows shown; more rows exist)"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO items (name) VALUES ('x')", "attempt to write a readonly database"),
        ("DROP TABLE items", "attempt to write a readonly database"),
        ("ATTACH DATABASE 'other.db' AS o", "not authorized"),
        ("PRAGMA query_only = OFF", "not authorized"),
    ],
)
async def test_sqlite_readonly_refuses_writes(
    ctx: ToolContext, db: Path, sql: str, message: str
) -> None:
    outcome = await call("sqlite_query", ctx, {"database": str(db)}, sql=sql)
    assert outcome.is_error and message in outcome.content
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (3,)
    conn.close()


async def test_sqlite_readwrite_relative_to_workspace(ctx: ToolContext) -> None:
    options = {"database": "w.db", "readonly": False}
    await call("sqlite_query", ctx, options, sql="CREATE TABLE t (x)")
    insert = await call("sqlite_query", ctx, options, sql="INSERT INTO t VALUES (1), (2)")
    assert insert.content == "ok: 2 rows affected"
    assert (ctx.workspace / "w.db").exists()


async def test_sqlite_long_query_is_interrupted(ctx: ToolContext, db: Path) -> None:
    endless = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT max(i) FROM c"
    outcome = await call("sqlite_query", ctx, {"database": str(db), "timeout_s": 0.2}, sql=endless)
    assert outcome == ToolOutcome("query interrupted after 0.2s", is_error=True)


async def test_sqlite_missing_database(ctx: ToolContext) -> None:
    outcome = await call("sqlite_query", ctx, {"database": "nope.db"}, sql="SELECT 1")
    assert outcome == ToolOutcome("database 'nope.db' does not exist", is_error=True)


# --- http --------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello there")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="x" * 5000)

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/big", big)
    app.router.add_get("/hop", hop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
def no_outside_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to resolve a non-local name."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert host in ("localhost", "127.0.0.1", "::1", None), f"looked up {host!r}"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


async def test_http_get_loopback(ctx: ToolContext, server: str, no_outside_dns: None) -> None:
    outcome = await call("http_get", ctx, url=f"http://{server}/hello")
    assert outcome.content == "HTTP 200 OK\ncontent-type: text/plain; charset=utf-8\n\nhello there"
    port = server.split(":")[1]
    by_name = await call("http_get", ctx, url=f"http://localhost:{port}/hop?to=/hello")
    assert by_name.content.endswith("hello there")


async def test_http_get_caps_bytes(ctx: ToolContext, server: str) -> None:
    outcome = await call("http_get", ctx, {"max_bytes": 100}, url=f"http://{server}/big")
    assert outcome.content.endswith("\n\n" + "x" * 100 + "\n[... truncated at 100 bytes]")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://example.com/",
        "https://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
    ],
)
async def test_http_get_refuses_other_hosts_before_connecting(
    ctx: ToolContext, url: str, no_outside_dns: None
) -> None:
    outcome = await call("http_get", ctx, url=url)
    assert outcome.is_error
    assert "not allowed" in outcome.content or "only http(s)" in outcome.content


async def test_http_get_refuses_redirects_to_other_hosts(
    ctx: ToolContext, server: str, no_outside_dns: None
) -> None:
    for target in ["http://10.0.0.1/", "http://example.com/x"]:
        outcome = await call("http_get", ctx, url=f"http://{server}/hop?to={target}")
        assert outcome.is_error and "is not allowed" in outcome.content


def test_host_policy_checks_every_resolved_address() -> None:
    policy = HostPolicy.from_allow(["api.example.org", "10.1.0.0/16"])

    assert policy.refusal("api.example.org") is None
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("10.2.0.1") is not None
    assert policy.refusal("other.example.org") is not None
    # An allowed name may not be pointed at a private address through DNS...
    assert not policy.address_ok("api.example.org", _ip("10.9.9.9"))  # type: ignore[arg-type]
    assert not policy.address_ok("api.example.org", _ip("169.254.169.254"))  # type: ignore[arg-type]
    assert policy.address_ok("api.example.org", _ip("93.184.216.34"))  # type: ignore[arg-type]
    # ...and "localhost" must resolve to loopback only.
    assert not policy.address_ok("localhost", _ip("93.184.216.34"))  # type: ignore[arg-type]
    assert policy.address_ok("localhost", _ip("::1"))  # type: ignore[arg-type]


# --- finish ------------------------------------------------------------------------------


async def test_finish_returns_the_answer(ctx: ToolContext) -> None:
    outcome = await call(FINISH_TOOL_NAME, ctx, answer="42 apples")
    assert outcome == ToolOutcome("42 apples")
