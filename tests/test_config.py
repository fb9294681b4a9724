"""Settings: environment variables over ``keel.toml`` over defaults, and clear errors."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.config import Settings, get_settings, override_settings, reset_settings
from keel.errors import InvalidArgumentError


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No KEEL_* variables, HOME in a temp folder, cwd in another one; yields the cwd."""
    for var in list(os.environ):
        if var.startswith("KEEL_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    reset_settings()
    yield cwd
    reset_settings()


def _toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_live_in_dot_keel(env: Path, tmp_path: Path) -> None:
    s = get_settings()
    home = tmp_path / "home" / ".keel"
    assert s.home == home
    assert s.store_uri == f"sqlite:///{home / 'keel.db'}"
    assert s.artifact_uri == str(home / "artifacts")
    assert s.tracking_uri is None
    assert s.s3_endpoint_url is None
    assert s.flush_interval == 1.0
    assert s.flush_size == 5000
    assert s.user == getpass.getuser()
    assert s.config_file is None


def test_nothing_is_read_at_import(tmp_path: Path) -> None:
    code = "import keel, keel.config; print('imported')"
    env = {**os.environ, "KEEL_CONFIG": str(tmp_path / "missing.toml")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported"


def test_environment_variables(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("KEEL_STORE_URI", "postgresql+psycopg://u@db:5432/keel")
    monkeypatch.setenv("KEEL_ARTIFACT_URI", "s3://bucket/keel")
    monkeypatch.setenv("KEEL_TRACKING_URI", "http://keel.internal:8080")
    monkeypatch.setenv("KEEL_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("KEEL_FLUSH_INTERVAL", "0.25")
    monkeypatch.setenv("KEEL_FLUSH_SIZE", "100")
    monkeypatch.setenv("KEEL_USER", "ada")
    s = get_settings()
    assert s == Settings(
        home=tmp_path / "kh",
        store_uri="postgresql+psycopg://u@db:5432/keel",
        artifact_uri="s3://bucket/keel",
        tracking_uri="http://keel.internal:8080",
        s3_endpoint_url="http://minio:9000",
        flush_interval=0.25,
        flush_size=100,
        user="ada",
        webhook_allowlist=s.webhook_allowlist,
        online_store_uri=s.online_store_uri,
    )


def test_keel_home_moves_the_default_stores(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEEL_HOME", "~/elsewhere")
    s = get_settings()
    assert s.home == tmp_path / "home" / "elsewhere"  # ~ is expanded
    assert s.store_uri == f"sqlite:///{s.home / 'keel.db'}"
    assert s.artifact_uri == str(s.home / "artifacts")


def test_keel_toml_in_the_current_directory(env: Path) -> None:
    cfg = _toml(
        env / "keel.toml",
        """
        [keel]
        store_uri = "sqlite:////data/keel.db"
        artifact_uri = "s3://models/keel"
        flush_interval = 2.5
        flush_size = 10
        user = "grace"
        """,
    )
    s = get_settings()
    assert s.config_file == cfg
    assert (s.store_uri, s.artifact_uri) == ("sqlite:////data/keel.db", "s3://models/keel")
    assert (s.flush_interval, s.flush_size, s.user) == (2.5, 10, "grace")


def test_keel_config_names_the_file(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _toml(env / "keel.toml", '[keel]\nuser = "from-cwd"\n')
    cfg = _toml(tmp_path / "etc" / "team.toml", '[keel]\nuser = "from-keel-config"\n')
    monkeypatch.setenv("KEEL_CONFIG", str(cfg))
    s = get_settings()
    assert (s.user, s.config_file) == ("from-keel-config", cfg)


def test_keel_config_pointing_nowhere_is_an_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEEL_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(InvalidArgumentError, match=r"KEEL_CONFIG names '.*nope\.toml', which is"):
        get_settings()


def test_precedence_env_over_toml_over_defaults(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _toml(
        env / "keel.toml",
        '[keel]\nhome = "/from/toml"\nstore_uri = "sqlite:////toml.db"\nflush_size = 7\n',
    )
    monkeypatch.setenv("KEEL_STORE_URI", "sqlite:////env.db")
    monkeypatch.setenv("KEEL_FLUSH_SIZE", "")  # empty means unset: the file's value holds
    s = get_settings()
    assert s.store_uri == "sqlite:////env.db"  # env beats the file
    assert s.home == Path("/from/toml")  # the file beats the default
    assert s.artifact_uri == "/from/toml/artifacts"  # defaults follow the chosen home
    assert s.flush_size == 7
    assert s.flush_interval == 1.0  # neither sets it: the default


def test_relative_home_in_keel_toml_is_relative_to_the_file(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = _toml(tmp_path / "project" / "keel.toml", '[keel]\nhome = ".keel-data"\n')
    monkeypatch.setenv("KEEL_CONFIG", str(cfg))
    assert get_settings().home == tmp_path / "project" / ".keel-data"


def test_relative_keel_home_is_relative_to_the_cwd_even_with_a_config_file(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Regression: a relative KEEL_HOME was resolved against the keel.toml's folder.
    cfg = _toml(tmp_path / "project" / "keel.toml", '[keel]\nuser = "x"\n')
    monkeypatch.setenv("KEEL_CONFIG", str(cfg))
    monkeypatch.setenv("KEEL_HOME", "local-home")
    assert get_settings().home == env / "local-home"


def test_invalid_toml(env: Path) -> None:
    _toml(env / "keel.toml", "[keel]\nstore_uri = sqlite:///x.db\n")
    with pytest.raises(InvalidArgumentError, match=r"keel\.toml' is not valid TOML: .* Fix or"):
        get_settings()


def test_toml_that_is_not_utf8(env: Path) -> None:
    (env / "keel.toml").write_bytes(b'[keel]\nuser = "\xff"\n')
    with pytest.raises(InvalidArgumentError, match="is not valid TOML"):
        get_settings()


def test_unknown_keys_are_rejected_with_near_matches(env: Path) -> None:
    _toml(env / "keel.toml", '[keel]\nstor_uri = "sqlite:////x.db"\n')
    with pytest.raises(
        InvalidArgumentError,
        match=r"unknown settings \['stor_uri'\]\. Did you mean 'store_uri', .*\? Known settings:",
    ):
        get_settings()


def test_settings_outside_the_keel_table_are_rejected(env: Path) -> None:
    # Regression: keys above the [keel] header were silently ignored.
    _toml(env / "keel.toml", 'store_uri = "sqlite:////x.db"\n')
    with pytest.raises(
        InvalidArgumentError, match=r"has \['store_uri'\] outside the \[keel\] table"
    ):
        get_settings()


def test_keel_must_be_a_table(env: Path) -> None:
    _toml(env / "keel.toml", 'keel = "sqlite:////x.db"\n')
    with pytest.raises(InvalidArgumentError, match=r"\[keel\] must be a table of settings"):
        get_settings()


def test_string_settings_must_be_strings(env: Path) -> None:
    _toml(env / "keel.toml", "[keel]\nstore_uri = 5\n")
    with pytest.raises(
        InvalidArgumentError, match=r"setting 'store_uri' must be a string, got 5\. Quote it"
    ):
        get_settings()


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("KEEL_FLUSH_INTERVAL", "0"),
        ("KEEL_FLUSH_INTERVAL", "-1"),
        ("KEEL_FLUSH_INTERVAL", "soon"),
        ("KEEL_FLUSH_INTERVAL", "nan"),
        ("KEEL_FLUSH_SIZE", "0"),
        ("KEEL_FLUSH_SIZE", "-5"),
        ("KEEL_FLUSH_SIZE", "1.5"),
        ("KEEL_FLUSH_SIZE", "many"),
    ],
)
def test_bad_numbers_in_the_environment(
    env: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(InvalidArgumentError, match=rf"^{var} must be a positive .*, got '"):
        get_settings()


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("flush_interval = 0", "0"),  # regression: 0 silently became the default
        ("flush_interval = -0.5", "-0.5"),
        ("flush_interval = true", "True"),
        ("flush_size = 0", "0"),
        ("flush_size = 1.5", "1.5"),  # regression: silently truncated to 1
        ("flush_size = true", "True"),
        ('flush_size = "ten"', "'ten'"),
    ],
)
def test_bad_numbers_in_keel_toml(env: Path, line: str, shown: str) -> None:
    _toml(env / "keel.toml", f"[keel]\n{line}\n")
    key = line.split()[0]
    with pytest.raises(
        InvalidArgumentError,
        match=rf"^'{key}' in '.*keel\.toml' must be a positive .*, got {shown}\. Set it to",
    ):
        get_settings()


def test_numbers_given_as_strings_are_parsed(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(env / "keel.toml", '[keel]\nflush_size = "250"\n')
    monkeypatch.setenv("KEEL_FLUSH_INTERVAL", " 3 ")
    s = get_settings()
    assert (s.flush_interval, s.flush_size) == (3.0, 250)
    assert isinstance(s.flush_size, int)
    assert isinstance(s.flush_interval, float)


def test_settings_are_cached_until_reset(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("KEEL_USER", "someone-else")
    assert get_settings() is first
    reset_settings()
    assert get_settings().user == "someone-else"


def test_override_settings(env: Path) -> None:
    s = override_settings(user="bot", flush_size=9)
    assert (s.user, s.flush_size) == ("bot", 9)
    assert get_settings() is s
    with pytest.raises(InvalidArgumentError, match=r"Unknown settings \['usr'\]"):
        override_settings(usr="x")
