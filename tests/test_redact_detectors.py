"""The secret detectors (eventlog.redaction) on real-looking samples of every kind, and on
text that must be kept as it is (hashes in code, UUIDs, base64 images, ordinary prose)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlog.redaction import find_secrets, marker, redact_message, redact_text

# Secrets are assembled from pieces so that this file itself holds none a scanner flags.
AWS_KEY_ID = "AKIA" + "Q3EGRK7ZXN4PLM2T"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8vK3mLp2"
GITHUB = "ghp_" + "R8nK2vQ9xL4mT7wB1cZ6yH3jF5dS0aPeUuIo"
GITHUB_FINE = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH"
GITLAB = "glpat-" + "xK8vN2qR5tW9yB3mL6pZ"
OPENAI = "sk-proj-" + "Vq3mK8xR2tN5wL9yB4zH" + "T3BlbkFJ" + "pQ7sD1fG6hJ0kL3zX8cV"
ANTHROPIC = "sk-ant-api03-" + "Zx9Kq2Lm7Np4Rt8Vw3Yb6Cd1Fg5Hj0Ks" * 3 + "AA"
SLACK = "xoxb-" + "2847561930-4819273645018-" + "Hk3LmN8pQr2StV5wXy9Za1Bc"
STRIPE = "sk_live_" + "51HqLyjWDarjtT1zdp7dcXyZ"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDx7cRzZ4n3uG1S1sJ0K9m2pQ+Wc3Lr5FvT8uYbN4hWkQAAAJgXq2Y9F6tm\n"
    "-----END OPENSSH " + "PRIVATE KEY-----"
)
DB_PASSWORD = "Xk9#mQ2$vL7pR4wZ"

SAMPLES = [
    ("aws_key", f"export AWS_ACCESS_KEY_ID={AWS_KEY_ID}", AWS_KEY_ID),
    ("aws_key", f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET),
    ("github_token", f"git remote set-url origin https://{GITHUB}@github.com/o/r", GITHUB),
    ("github_token", f"GH_TOKEN={GITHUB_FINE}", GITHUB_FINE),
    ("gitlab_token", f"curl --header 'PRIVATE-TOKEN: {GITLAB}' https://gitlab.com", GITLAB),
    ("openai_key", f"OPENAI_API_KEY={OPENAI} python run.py", OPENAI),
    ("anthropic_key", f"client = Anthropic(api_key={ANTHROPIC!r})", ANTHROPIC),
    ("slack_token", f"SLACK_BOT_TOKEN={SLACK}", SLACK),
    ("stripe_key", f"stripe.api_key = '{STRIPE}'", STRIPE),
    ("jwt", f"Authorization: Bearer {JWT}", JWT),
    ("private_key", f"my key:\n{PRIVATE_KEY}\nthanks", PRIVATE_KEY),
    ("basic_auth", "DATABASE_URL=postgres://admin:Pg7vK2mQx9@db.internal:5432/app", "Pg7vK2mQx9"),
    ("secret", f'db_password = "{DB_PASSWORD}"', DB_PASSWORD),
    ("secret", "API_TOKEN: a8f3k2m9x7q1w5e4", "a8f3k2m9x7q1w5e4"),
    ("secret", '{"client_secret": "9fK2pLx7Qm4Rt8Vz"}', "9fK2pLx7Qm4Rt8Vz"),
]


@pytest.mark.parametrize(("kind", "text", "secret"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_kind_of_secret_is_replaced_by_its_marker(kind: str, text: str, secret: str):
    redacted, kinds = redact_text(text)
    assert secret not in redacted
    assert marker(kind) in redacted
    assert kind in kinds


def test_the_text_around_a_secret_is_kept():
    redacted, _kinds = redact_text(f"run `export AWS_ACCESS_KEY_ID={AWS_KEY_ID}` then deploy")
    assert redacted == f"run `export AWS_ACCESS_KEY_ID={marker('aws_key')}` then deploy"
    url, _ = redact_text("https://alice:Pg7vK2mQx9@example.com/repo.git")
    assert url == f"https://alice:{marker('basic_auth')}@example.com/repo.git"


def test_a_private_key_block_is_replaced_whole_even_without_its_end_line():
    head = PRIVATE_KEY.split("-----END", maxsplit=1)[0]
    redacted, kinds = redact_text("pasted: " + head)
    assert redacted == "pasted: " + marker("private_key")
    assert kinds == ["private_key"]


def test_several_secrets_in_one_message_are_all_replaced():
    text = f"{GITHUB} and {STRIPE} and {SLACK}"
    redacted, kinds = redact_text(text)
    assert redacted == " and ".join(
        marker(k) for k in ("github_token", "stripe_key", "slack_token")
    )
    assert sorted(kinds) == ["github_token", "slack_token", "stripe_key"]


KEPT = [
    "sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it; git checkout -b token-refresh",
    "md5sum: d41d8cd98f00b204e9800998ecf8427e  empty.txt",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
    "uuid.UUID('6fa459ea-ee8a-3ca4-894e-db77e160355e')",
    "![plot](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
    "mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==)",
    "password: required. The token is expired; rotate the secret key monthly.",
    "def check(password: str) -> bool:\n    return verify(password, stored_hash)",
    "Write an email to alice@example.com about the keyboard layout.",
    "see https://example.com/docs?page=2#section",
    "The key insight: passwords longer than 12 characters resist brute force.",
]


@pytest.mark.parametrize("text", KEPT)
def test_text_that_is_no_secret_is_kept_as_it_is(text: str):
    assert redact_text(text) == (text, [])


def test_metadata_values_are_redacted_by_content_and_by_key_name():
    result = redact_message(
        "hi",
        {
            "tool": {"input": {"command": f"curl -H 'Authorization: Bearer {JWT}'"}},
            "env": {"API_KEY": "Zq8Lm2Vx7Rt4Np9K", "HOME": "/home/alice"},
            "list": [GITHUB, 3, None],
            "model": "gpt-4o",
        },
    )
    assert JWT not in str(result.metadata)
    assert result.metadata["env"] == {"API_KEY": marker("secret"), "HOME": "/home/alice"}
    assert result.metadata["list"] == [marker("github_token"), 3, None]
    assert result.metadata["model"] == "gpt-4o"
    assert sorted(result.kinds) == ["github_token", "jwt", "secret"]


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,\n'-", max_size=400))
def test_plain_words_and_punctuation_are_never_redacted(text: str):
    assert find_secrets(text) == []


STANDALONE = [AWS_KEY_ID, GITHUB, GITLAB, OPENAI, ANTHROPIC, SLACK, STRIPE, JWT, PRIVATE_KEY]


@given(st.text(max_size=300), st.sampled_from(STANDALONE))
def test_a_known_format_is_found_wherever_it_stands(prefix: str, secret: str):
    redacted, _kinds = redact_text(f"{prefix} {secret} end")
    assert secret not in redacted
