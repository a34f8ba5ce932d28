import json
from collections import Counter

import pytest

from evalkit.study.config import load_config
from evalkit.study.design import BppMismatchWarning, Design, build_study


@pytest.fixture(scope="module")
def built(built_study):
    return built_study, Design.load(built_study.trials_path)


def test_every_pair_gets_its_judgements_counterbalanced(built):
    config, design = built
    pairs = Counter()
    sides = Counter()
    for trials in design.assignments:
        seen = set()
        for t in (t for t in trials if t.kind == "pair"):
            key = (t.image, t.target_bpp, frozenset((t.left.codec, t.right.codec)))
            assert key not in seen, "a pair twice in one assignment"
            seen.add(key)
            pairs[key] += 1
            sides[(key, t.left.codec)] += 1
            assert abs(t.left.bpp / t.right.bpp - 1) <= config.bpp_tolerance
    assert len(pairs) == 2 * 2 * 3 and set(pairs.values()) == {config.judgements_per_pair}
    assert set(sides.values()) == {config.judgements_per_pair // 2}  # each side half the time


def test_sentinels_and_repeats(built):
    _, design = built
    for trials in design.assignments:
        position = {t.id: k for k, t in enumerate(trials)}
        sentinels = [t for t in trials if t.kind == "sentinel"]
        repeats = [t for t in trials if t.kind == "repeat"]
        assert len(sentinels) == 2 and len(repeats) == 2
        for s in sentinels:
            faithful, degraded = (s.left, s.right) if s.correct == "left" else (s.right, s.left)
            assert (faithful.codec, degraded.codec) == ("faithful", "degraded")
            assert s.reference not in (faithful.path, degraded.path)  # no side equals the middle
        by_id = {t.id: t for t in trials}
        for r in repeats:
            source = by_id[r.repeat_of]
            assert position[r.id] > position[source.id]
            assert (r.left, r.right) == (source.right, source.left)


def _pairs_and_sides(design):
    pairs, sides = Counter(), Counter()
    for trials in design.assignments:
        seen = set()
        for t in (t for t in trials if t.kind == "pair"):
            key = (t.image, t.target_bpp, frozenset((t.left.codec, t.right.codec)))
            assert key not in seen, f"{key} twice in one assignment"
            seen.add(key)
            pairs[key] += 1
            sides[(key, t.left.codec)] += 1
    return pairs, sides


@pytest.mark.parametrize("judgements, per", [(3, 5), (5, 7), (4, 11), (2, 12)])
def test_no_pair_twice_in_an_assignment_when_numbers_do_not_divide(built, judgements, per):
    """Slots dealt round by round and cut into assignments used to put a pair twice into an
    assignment that spans two rounds (the second time swapped)."""
    from dataclasses import replace as with_

    from evalkit.study.design import build_design

    config, design = built
    config = with_(config, judgements_per_pair=judgements, trials_per_assignment=per)
    pairs = {
        (t.image, t.target_bpp, t.left.codec, t.right.codec): (t.left, t.right)
        for a in design.assignments
        for t in a
        if t.kind == "pair" and t.left.codec < t.right.codec
    }
    planned = [
        (left, right, {"image": key[0], "target_bpp": key[1], "reference": "r.png"})
        for key, (left, right) in sorted(pairs.items())
    ]
    rebuilt = build_design(config, planned, [], {})
    counts, _ = _pairs_and_sides(rebuilt)
    assert len(counts) == len(planned) and set(counts.values()) == {judgements}
    assert all(sum(t.kind == "pair" for t in a) <= per for a in rebuilt.assignments)
    few = build_design(with_(config, trials_per_assignment=len(planned) + 1), planned, [], {})
    assert max(sum(t.kind == "pair" for t in a) for a in few.assignments) == len(planned)
    _pairs_and_sides(few)


def test_deterministic_under_seed(built, study_cache, monkeypatch):
    """Rebuilt from the same encodes (the fixture's cache), the plan is the same to the byte."""
    config, design = built
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(study_cache))
    first = config.trials_path.read_bytes()
    assert Design.from_json(json.loads(first)) == design
    build_study(config, progress=False, workers=1)
    assert config.trials_path.read_bytes() == first


def test_unmatched_bpp_is_refused_or_left_out_loudly(built, tmp_path, study_cache, monkeypatch):
    config, _ = built
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(study_cache))  # the same encodes, planned strictly
    (tmp_path / "strict").mkdir()
    strict = tmp_path / "strict" / "study.toml"
    strict.write_text(
        (config.folder / "study.toml")
        .read_text()
        .replace('seed = 11', 'seed = 11\nbpp_tolerance = 0.0')
        .replace('images = "images"', f'images = "{config.folder / "images"}"')
    )
    tight = load_config(strict)
    with pytest.warns(BppMismatchWarning, match="differ by"):
        design = build_study(tight, progress=False, workers=1)
    assert design.rejected
    with pytest.raises(ValueError, match="not at matched bpp"):
        build_study(tight, strict=True, progress=False, workers=1)


def test_config_errors(tmp_path):
    bad = tmp_path / "study.toml"
    bad.write_text('name = "x"\nimages = "samples"\ncodecs = ["jpeg"]\nbpp = [0.5]\ncolour = 1\n')
    with pytest.raises(ValueError, match="unknown key.*colour"):
        load_config(bad)
    bad.write_text('name = "x"\nimages = "samples"\ncodecs = ["jpeg"]\nbpp = [-1]\n')
    with pytest.raises(ValueError, match="bpp must be more than 0, got -1"):
        load_config(bad)
    bad.write_text('name = "x"\nimages = "samples"\ncodecs = ["jpeg"]\nbpp = [1]\n')
    with pytest.raises(ValueError, match="two distinct codecs"):
        load_config(bad)
    bad.write_text('name = "x"\nimages = "samples"\ncodecs = ["jpeg", "webp"]\nbpp = [1]\npairs = "anchor"\n')
    with pytest.raises(ValueError, match="anchor"):
        load_config(bad)
    bad.write_text("name = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(bad)


def test_example_study_is_valid():
    config = load_config("studies/samples-demo/study.toml")
    assert config.images == "samples" and len(config.codecs) >= 2


def test_serving_a_study_never_built_is_one_line_and_exit_2(tmp_path, capsys):
    from evalkit.cli import main

    study = tmp_path / "study.toml"
    study.write_text('name = "x"\nimages = "samples"\ncodecs = ["jpeg", "webp"]\nbpp = [0.5]\n')
    assert main(["study", "serve", str(study)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "evalkit study build" in err
