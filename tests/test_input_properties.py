"""Property-based tests (Hypothesis) of the readers of what users write and what runs leave:
whatever a study file or a manifest holds, the answer is a checked value or one InputError —
never another exception, never a value of the wrong type.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.schema import declared_keys
from evalkit.study.config import StudyConfig, config_from_dict

VALID = {"name": "s", "images": "samples", "codecs": ["jpeg", "webp"], "bpp": [0.5]}
TOML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
KEYS = list(declared_keys(StudyConfig))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def accepted_types_hold(config: StudyConfig) -> None:
    """Every field of an accepted study has its declared type (bool is not an int, a list holds
    only its element type)."""
    for name, hint in typing.get_type_hints(StudyConfig).items():
        if name == "folder":
            continue
        value = getattr(config, name)
        origin = typing.get_origin(hint)
        if origin is list:
            element = typing.get_args(hint)[0]
            assert isinstance(value, list) and all(
                isinstance(v, (int, float) if element is float else element) and not isinstance(v, bool)
                for v in value
            ), (name, value)
        elif hint is bool:
            assert isinstance(value, bool), (name, value)
        elif hint in (int, float):
            assert isinstance(value, (int, float) if hint is float else int) and not isinstance(
                value, bool
            ), (name, value)
        elif hint is str:
            assert isinstance(value, str), (name, value)


@FAST
@given(key=st.sampled_from(KEYS), value=TOML_VALUES)
def test_any_value_of_any_study_key_is_checked_or_refused_naming_the_key(key, value):
    try:
        config = config_from_dict({**VALID, key: value}, Path("."), "study.toml")
    except InputError as exc:
        message = str(exc)
        assert message.startswith("study.toml: ") and "\n" not in message
        assert key in message or "codecs" in message or "stop_when" in message, message
        return
    accepted_types_hold(config)


@FAST
@given(data=st.dictionaries(st.sampled_from(KEYS + ["colour", "Name", "bpp "]), TOML_VALUES, max_size=6))
def test_any_study_table_is_a_checked_config_or_one_input_error(data):
    try:
        config = config_from_dict(data, Path("."), "study.toml")
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    accepted_types_hold(config)


@FAST
@given(name=st.text(max_size=30))
def test_an_accepted_study_name_is_one_plain_folder_name(name):
    try:
        config = config_from_dict({**VALID, "name": name}, Path("."), "study.toml")
    except InputError:
        return
    assert Path(config.name).name == config.name and config.name not in (".", "..")
    assert "/" not in config.name and "\\" not in config.name and "\x00" not in config.name


def test_a_new_key_is_one_declaration():
    """What another key (a "not sure" answer, say) needs: one field; the checks follow from it."""
    from evalkit.schema import check_keys, key

    @dataclasses.dataclass(frozen=True)
    class WithNotSure:
        name: str = key(example="s", safe_name=True)
        not_sure: bool = key(False, example=True)

    assert check_keys(WithNotSure, {"name": "s", "not_sure": True}) == []
    assert check_keys(WithNotSure, {"name": "s", "not_sure": "yes"}) == [
        "not_sure: expected true or false, got 'yes' (e.g. not_sure = true)"
    ]


# --- manifest and shard readers ------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest_text():
    """A real manifest of two images × one codec (written by evalkit compress)."""
    import tempfile

    from evalkit.compress import MANIFEST_COLUMNS, write_manifest

    rows = [
        {c: "" for c in MANIFEST_COLUMNS}
        | {
            "image": f"im{i}",
            "reference": f"references/im{i}.png",
            "codec": "jpeg",
            "target_bpp": 1.0,
            "bpp": 0.99,
            "bytes": 380,
            "setting": 6.2,
            "reconstruction": f"reconstructions/jpeg/im{i}_1bpp.png",
            "bitstream": f"bitstreams/jpeg/im{i}_1bpp.jpg",
            "encode_s": 0.001,
            "decode_s": 0.001,
            "encodes": 8,
            "policy": "closest",
            "rel_error": -0.008,
            "setting_name": "quality",
            "codec_version": "libjpeg-turbo 3",
            "height": 48,
            "width": 64,
            "source": f"/data/im{i}.png",
            "image_sha": "80348a11def86cb5b775393f",
        }
        for i in range(2)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        write_manifest(rows, path)
        return path.read_text()


@FAST
@given(cut=st.integers(min_value=0))
def test_a_manifest_cut_anywhere_is_refused_or_holds_only_whole_rows(manifest_text, cut, tmp_path_factory):
    """Cut inside a row, the manifest is refused naming the file; cut at a row's end it is a
    whole, shorter manifest (which merge then refuses against the shard's record)."""
    from evalkit.compress import read_manifest

    cut %= len(manifest_text)
    path = tmp_path_factory.mktemp("m") / "manifest.csv"
    path.write_text(manifest_text[:cut])
    try:
        table = read_manifest(path)
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    whole_rows = manifest_text[:cut].count("\n") - 1
    assert manifest_text[:cut].endswith("\n") and len(table) == whole_rows


@FAST
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_a_manifest_or_pairs_table_are_a_table_or_one_input_error(data, tmp_path_factory):
    from evalkit.compress import read_manifest
    from evalkit.metrics import read_pairs

    path = tmp_path_factory.mktemp("m") / "manifest.csv"
    path.write_bytes(data)
    for reader in (read_manifest, read_pairs):
        try:
            table = reader(path)
        except InputError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(table, pd.DataFrame) and {"reference", "reconstruction"} <= set(table.columns)
            assert (table[["reference", "reconstruction"]].astype(str) != "").all().all()


@FAST
@given(
    record=st.dictionaries(
        st.sampled_from(["command", "shard", "of", "plan", "rows", "root"]), TOML_VALUES, max_size=6
    )
    | TOML_VALUES
)
def test_any_json_as_a_shard_record_is_a_checked_record_or_one_input_error(record, tmp_path_factory):
    from evalkit.shards import read_record

    path = tmp_path_factory.mktemp("r") / "shard.json"
    try:
        path.write_text(json.dumps(record))
    except ValueError:
        assume(False)
    try:
        found = read_record(path)
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert isinstance(found["shard"], int) and 1 <= found["shard"] <= found["of"]
    assert isinstance(found["rows"], list) and isinstance(found["plan"], str)
