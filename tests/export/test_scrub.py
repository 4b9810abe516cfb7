"""Secrets never reach exported data: token shapes, assignments and secret env values."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from export_fixtures import lead_episode, rollout, trajectory

from nexforge.core.messages import Message, ToolCall
from nexforge.export import FORMATS, REDACTED, ExportOptions, Scrubber, export_store
from nexforge.synthesis.records import QueryRecord, RolloutRecord
from nexforge.synthesis.store import SynthesisStore

# Built at run time so no scanner mistakes these fakes for leaked credentials.
TOKENS = {
    "openai": "sk-" + "proj-" + "A1b2C3d4" * 5,
    "anthropic": "sk-ant-" + "api03-" + "x9Y8z7W6" * 5,
    "github classic": "ghp_" + "Q" * 36,
    "github oauth": "gho_" + "r" * 36,
    "github fine-grained": "github_pat_" + "11AB" * 10,
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "slack": "xoxb-" + "123456789012-abcdefABCDEF",
    "hugging face": "hf_" + "aBcDeFgHiJ" * 4,
    "google": "AIza" + "SyA-" + "b" * 31,
    "sendgrid": "SG" + ".ngeVfQFYQlKU0ufo8x5d1A." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "square": "sq0csp" + "-" + "0p7h9k2q5s1u4w6y8z0a3c5e7g9i1k3m5o7q9s1u4w6",
    "pypi": "pypi" + "-AgEIcHlwaS5vcmc" + "Ab12" * 18,
    "gitlab runner": "GR1348941" + "xY9zQ2wE4rT6yU8iO0pA",
}
FINAL_WORDS = "wurden erstattet"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq1w2e3r4t5\n-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize("kind", TOKENS)
def test_known_token_shapes_are_redacted(kind: str) -> None:
    text = f"the key is {TOKENS[kind]} (do not share)"

    scrubbed, found = Scrubber(environ={}).scrub(text)

    assert (scrubbed, found) == (f"the key is {REDACTED} (do not share)", 1)


def test_a_private_key_block_is_redacted_whole_inside_json() -> None:
    text = json.dumps({"content": f"key:\n{PRIVATE_KEY}\nend", "n": 1})

    scrubbed, found = Scrubber(environ={}).scrub(text)

    assert found == 1
    assert json.loads(scrubbed) == {"content": f"key:\n{REDACTED}\nend", "n": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcDEF123456.xyz-789", f"Authorization: Bearer {REDACTED}"),
        ("DB_PASSWORD=hunter2hunter2", f"DB_PASSWORD={REDACTED}"),
        ("password: 's3cr3t-v4lue'", f"password: '{REDACTED}'"),
        ('{"api_key": "k-1234567890"}', f'{{"api_key": "{REDACTED}"}}'),
    ],
)
def test_assignments_keep_their_name_and_lose_their_value(text: str, expected: str) -> None:
    assert Scrubber(environ={}).scrub(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        '{"password": {"type": "string", "minLength": 8}}',
        "Choose a password: at least 8 characters.",
        "sk-short and ghp_short and hf_short",
        "Bestellung 42 ist versandt; 20 € wurden erstattet.",
    ],
)
def test_ordinary_text_and_schemas_are_left_alone(text: str) -> None:
    assert Scrubber(environ={}).scrub(text) == (text, 0)


def test_values_of_secret_named_environment_variables_are_redacted() -> None:
    environ = {
        "MY_SERVICE_TOKEN": 'tok"with\\quote',
        "DATABASE_PASSWORD": "correct horse battery",
        "SHORT_KEY": "abc",
        "HOME": "/home/someone/long/path",
    }
    text = json.dumps(
        {
            "a": 'token is tok"with\\quote',
            "b": "pw correct horse battery",
            "c": "abc /home/someone/long/path",
        }
    )

    scrubbed, found = Scrubber(environ=environ).scrub(text)

    assert found == 2
    assert json.loads(scrubbed) == {
        "a": f"token is {REDACTED}",
        "b": f"pw {REDACTED}",
        "c": "abc /home/someone/long/path",
    }


def test_export_scrubs_messages_tools_and_provenance_and_counts(
    store: SynthesisStore, shop_query: QueryRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_API_SECRET", "s3cr3t-value-from-env")
    episode = lead_episode()
    episode.system_prompt += " Use the key s3cr3t-value-from-env."
    episode.messages[0] = Message.system(episode.system_prompt)
    episode.tools[0].description += f" (auth: Bearer {TOKENS['openai']})"
    episode.messages[3] = episode.messages[3].model_copy(
        update={"content": f"found {TOKENS['github classic']}"}
    )
    record = rollout(shop_query, traj=trajectory(episodes=[episode]))
    record.trajectory.framework = TOKENS["aws"]  # type: ignore[union-attr]
    store.add_query(shop_query)
    store.put_rollout(record)
    output = tmp_path / "out.jsonl"

    summary = export_store(store, ExportOptions("trl", output, filter="none"))

    text = output.read_text(encoding="utf-8")
    assert summary.secrets_scrubbed == 4
    for secret in (
        "s3cr3t-value-from-env",
        TOKENS["openai"],
        TOKENS["github classic"],
        TOKENS["aws"],
    ):
        assert secret not in text
    row = json.loads(text)
    assert row["provenance"]["framework"] == REDACTED
    assert row["tools"][0]["function"]["description"].endswith(f"Bearer {REDACTED})")


def test_an_env_value_that_is_also_a_number_leaves_valid_json(
    store: SynthesisStore, shop_query: QueryRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PIN_PASSWORD", "424242424242")
    episode = lead_episode()
    episode.messages[2].tool_calls[0].arguments["order_id"] = 424242424242
    episode.messages[3] = episode.messages[3].model_copy(update={"content": "pin 424242424242"})
    store.add_query(shop_query)
    store.put_rollout(rollout(shop_query, traj=trajectory(episodes=[episode])))
    output = tmp_path / "out.jsonl"

    summary = export_store(store, ExportOptions("trl", output, filter="none"))

    row = json.loads(output.read_text(encoding="utf-8"))
    assert row["messages"][3]["content"] == f"pin {REDACTED}"
    assert row["messages"][2]["tool_calls"][0]["function"]["arguments"]["order_id"] == 424242424242
    assert summary.secrets_scrubbed == 1


# --- every kind the red team found passing, in every export format ----------------------


def _b64url(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


AWS_SECRET = "wJalrXUtnFEMI/" + "K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
JWT = ".".join(
    [_b64url({"alg": "HS256", "typ": "JWT"}), _b64url({"sub": "42", "role": "admin"}), "Q" * 43]
)
STRIPE = "sk_" + "live_" + "51HcWq2" + "Lk9" * 30  # longer than detect-secrets' 24 characters
KEY_BODY = (
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "QyNTUxOQAAACD4",
)
# Each kind: (text as a tool printed it, the parts that must not survive).
KINDS: dict[str, tuple[str, list[str]]] = {
    "bearer, lower case": ("authorization: bearer Zt7Kq2Lm9Wp4Xv8Rb3Nc", ["Zt7Kq2Lm9Wp4Xv8Rb3Nc"]),
    "bearer, upper case": ("AUTHORIZATION: BEARER Hq5Ty8Vz1Md6Sw3Jf0Pk", ["Hq5Ty8Vz1Md6Sw3Jf0Pk"]),
    "aws_secret_access_key =": ("aws_secret_access_key = " + AWS_SECRET, [AWS_SECRET]),
    "bare aws secret key": (
        "AKIA" + "IOSFODNN7EXAMPLE " + AWS_SECRET,
        ["IOSFODNN7EXAMPLE", AWS_SECRET],
    ),
    "basic auth": (
        "Authorization: Basic " + base64.b64encode(b"admin:Tr0ub4dor-3x").decode(),
        [base64.b64encode(b"admin:Tr0ub4dor-3x").decode()],
    ),
    "credentials in a url": (
        "postgres://shop:Pl4ntVault77@db.internal:5432/shop",
        ["Pl4ntVault77"],
    ),
    "stripe sk_live_": (f"STRIPE_KEY={STRIPE}", [STRIPE[:20], STRIPE[-20:]]),
    "stripe rk_live_": (
        "rk_" + "live_" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn",
        ["Ab12Cd34Ef56Gh78Ij90Kl12Mn"],
    ),
    "gitlab glpat-": ("glpat" + "-xY9zQ2wE4rT6yU8iO0pA", ["xY9zQ2wE4rT6yU8iO0pA"]),
    "npm_": (
        "npm" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        ["a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"],
    ),
    "google ya29.": ("ya29" + ".a0AfH6SMBx3Lq9Zk2Vt7Wy4Np8Rc", ["a0AfH6SMBx3Lq9Zk2Vt7Wy4Np8Rc"]),
    "slack webhook": (
        "https://hooks.slack.com/services/" + "T0AB12CD3/B0EF45GH6/" + "Xq9Lm2Np7Rt4Vw8Yz1Ab3Cd",
        ["Xq9Lm2Np7Rt4Vw8Yz1Ab3Cd", "T0AB12CD3"],
    ),
    "bare jwt": (f"session {JWT} issued", [JWT.split(".")[1], "Q" * 43]),
    "pwd=": ("mysql -u root pwd=Gr33nTea!", ["Gr33nTea"]),
    "pw:": ("pw: Bl4ckCoffee", ["Bl4ckCoffee"]),
    "passphrase=": ("passphrase=Moonlit-Harbor-42", ["Moonlit-Harbor-42"]),
    "token=": ("GET https://api.example.com/v1/items?token=Qw3rTy9UiOp&page=2", ["Qw3rTy9UiOp"]),
    "private key cut short": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(KEY_BODY)
        + "\n[... truncated: 1800 more chars not shown]",
        list(KEY_BODY),
    ),
    "aws secret quoted by an aws name (no digits)": (
        "AWS key: 'wJalrXUtnFEMIKbPxRfiCYEXAMPLEKEYabcdefgh'",
        ["wJalrXUtnFEMIKbPxRfiCYEXAMPLEKEYabcdefgh"],
    ),
    "azure storage key": (
        "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey="
        + "Zm9v" * 21
        + "YQ==;EndpointSuffix=core.windows.net",
        ["Zm9v" * 21],
    ),
    "multi-word password": (
        "username: alice\npassword: orbit mango velvet quasar\nrole: admin",
        ["orbit", "mango", "velvet", "quasar"],
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_redacted_in_json_text(kind: str) -> None:
    text, secrets = KINDS[kind]
    line = json.dumps({"role": "tool", "content": f"output:\n{text}\nend"}, ensure_ascii=False)

    scrubbed, found = Scrubber(environ={}).scrub(line)

    content = json.loads(scrubbed)["content"]
    assert found >= 1 and REDACTED in content
    for secret in secrets:
        assert secret not in scrubbed, (kind, content)
    assert content.startswith("output:\n") and content.endswith("\nend"), content


def test_names_and_the_text_around_secrets_stay() -> None:
    scrub = Scrubber(environ={}).scrub
    assert scrub("aws_secret_access_key = " + AWS_SECRET) == (
        f"aws_secret_access_key = {REDACTED}",
        1,
    )
    assert scrub("authorization: bearer Zt7Kq2Lm9Wp4Xv8Rb3Nc") == (
        f"authorization: bearer {REDACTED}",
        1,
    )
    assert scrub("see https://shop:Pl4ntVault77@db.internal/x") == (
        f"see https://shop:{REDACTED}@db.internal/x",
        1,
    )
    assert scrub("username: alice\npassword: orbit mango velvet quasar\nrole: admin") == (
        f"username: alice\npassword: {REDACTED}\nrole: admin",
        1,
    )
    key = KINDS["private key cut short"][0]
    assert scrub(key) == (f"{REDACTED}\n[... truncated: 1800 more chars not shown]", 1)


@pytest.mark.parametrize(
    "text",
    [
        '{"model_sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"}',
        '{"rollout_key": "5f64db2589c38cbca7450002", "query_key": "26ba5fd616466fd4b68b6fbd"}',
        '{"commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "sku": "SKU-4471-BLK-XL"}',
        '{"order_id": "ORD-2026-000042", "run_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}',
        '{"usage": {"prompt_tokens": 2400, "completion_tokens": 300, "max_tokens": 512}}',
        '{"tokenizer": "qwen2", "eos_token": "<|im_end|>", "pad_token": "[PAD]"}',
        '{"password": {"type": "string", "minLength": 8}, "token": null, "secret": true}',
        "Choose a password: at least 8 characters. Reset a password: requires the old one.",
        "The bearer of this letter needs basic information about the order.",
        "Passed: 10, failed: 0; the key point is speed; keys: 3",
        "/usr/local/lib/python3.11/site-packages/nexforge/export/scrub.py line 42",
        "image: iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "Visit https://example.com/docs/getting-started?page=2&lang=en for help.",
    ],
)
def test_ordinary_data_is_left_alone(text: str) -> None:
    assert Scrubber(environ={}).scrub(text) == (text, 0)


def _secret_rollout(shop_query: QueryRecord) -> RolloutRecord:
    """A rollout carrying every kind: in a tool's output, the user's message, tool call
    arguments, the system prompt and a tool description."""
    episode = lead_episode()
    every_kind = "\n".join(text for text, _ in KINDS.values())
    episode.messages[3] = episode.messages[3].model_copy(update={"content": every_kind})
    episode.messages[1] = Message.user(f"Use {KINDS['bearer, upper case'][0]} please")
    call = ToolCall(
        id="c1",
        name="lookup_order",
        arguments={"order_id": 42, "note": KINDS["credentials in a url"][0]},
    )
    episode.messages[2] = episode.messages[2].model_copy(
        update={"tool_calls": [call, *episode.messages[2].tool_calls[1:]]}
    )
    episode.system_prompt += " " + KINDS["pw:"][0]
    episode.messages[0] = Message.system(episode.system_prompt)
    episode.tools[0].description += " " + KINDS["gitlab glpat-"][0]
    return rollout(shop_query, traj=trajectory(episodes=[episode]))


def _written_text(path: Path) -> str:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fmt", "suffix"), [*((f, ".jsonl") for f in FORMATS), ("trl", ".parquet"), ("rl", ".parquet")]
)
def test_no_kind_survives_any_export_format(
    store: SynthesisStore, shop_query: QueryRecord, tmp_path: Path, fmt: str, suffix: str
) -> None:
    store.add_query(shop_query)
    store.put_rollout(_secret_rollout(shop_query))
    output = tmp_path / f"out{suffix}"

    summary = export_store(store, ExportOptions(fmt, output, filter="none"))

    written = _written_text(output)
    assert summary.samples_written >= 1 and summary.secrets_scrubbed >= len(KINDS)
    for kind, (_, secrets) in KINDS.items():
        for secret in secrets:
            assert secret not in written, (fmt, kind, secret)
    assert "[... truncated: 1800 more chars not shown]" in written  # only the key went
    assert FINAL_WORDS in written  # so did not the turns after it
