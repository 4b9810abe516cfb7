"""Secrets never reach exported data: token shapes, assignments and secret env values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_fixtures import lead_episode, rollout, trajectory

from nexforge.core.messages import Message
from nexforge.export import REDACTED, ExportOptions, Scrubber, export_store
from nexforge.synthesis.records import QueryRecord
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
}
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
