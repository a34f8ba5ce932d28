"""What ``evalkit study serve`` asks of the library before gunicorn starts: the admin token (given,
from the environment, or drawn and left in a file only its owner can read), the environment the
workers read, and how many assignments an active study's judgement budget needs."""

import stat

from evalkit.study.config import StudyConfig
from evalkit.study.server import admin_token, serving_environment


def _config(tmp_path, **settings) -> StudyConfig:
    (tmp_path / "out").mkdir(exist_ok=True)
    return StudyConfig("probe", "samples", ["jpeg", "webp"], [0.5], folder=tmp_path, **settings)


def test_a_given_token_wins_and_no_file_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ADMIN_TOKEN", "from-env")
    config = _config(tmp_path)
    assert admin_token(config, "given") == ("given", "the token you gave")
    assert admin_token(config) == ("from-env", "the token you gave")
    assert not (config.out_dir / "admin-token").exists()


def test_a_drawn_token_is_in_a_file_only_its_owner_reads(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALKIT_ADMIN_TOKEN", raising=False)
    config = _config(tmp_path)
    token, where = admin_token(config)
    token_file = config.out_dir / "admin-token"
    assert len(token) >= 32 and token_file.read_text() == token + "\n"
    assert where == f"the token in {token_file}" and token not in where
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_the_workers_environment_names_the_study_database_and_token(tmp_path):
    env = serving_environment(_config(tmp_path), "sqlite:///x.sqlite", "secret")
    assert env["EVALKIT_STUDY"] == str(tmp_path / "study.toml")
    assert (env["EVALKIT_DATABASE_URL"], env["EVALKIT_ADMIN_TOKEN"]) == ("sqlite:///x.sqlite", "secret")


def test_the_judgement_budget_sizes_an_active_study():
    active = dict(sampling="active", trials_per_assignment=20)
    assert (
        StudyConfig(
            "a", "samples", ["jpeg"], [0.5], stop_when={"judgements": 41}, **active
        ).budget_assignments
        == 3
    )
    assert (
        StudyConfig(
            "a", "samples", ["jpeg"], [0.5], stop_when={"gap_ci_jod": 0.5}, **active
        ).budget_assignments
        is None
    )
