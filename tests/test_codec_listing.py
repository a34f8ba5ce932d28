"""`evalkit codecs` tells apart what runs here, what downloads on first use (CompressAI's zoo) and
what is a recipe not trained yet, instead of calling them all unavailable."""

from evalkit.cli import main
from evalkit.codecs import STATUSES, codec_table
from evalkit.codecs.checkpoints import learned_zoo


def test_each_row_has_the_status_its_checkpoints_give(tmp_path):
    rows = {r.name: r for r in codec_table(tmp_path)}  # an empty weights folder
    assert {r.status for r in rows.values()} <= set(STATUSES)
    for r in rows.values():
        assert (r.status == "ready") == (r.version is not None)
    for name, spec in learned_zoo().items():
        if spec.path is None and all(c.url for c in spec.checkpoints.values()):
            assert rows[name].status in ("ready", "downloads"), name  # CompressAI's zoo
        elif "evalkit train" in spec.recipe and rows[name].unavailable:
            assert rows[name].status == "untrained", name
    assert rows["ek-variable-rate-mse"].status == "ready"  # the shipped model
    assert rows["ek-hyperprior-mse"].status == "untrained"
    assert rows["mbt2018-mse"].status in ("ready", "downloads")


def test_the_listing_prints_each_group_under_its_heading(capsys, tmp_path):
    assert main(["codecs", "--weights-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ready, downloads = out.index("Codecs that run here:"), out.index("download on first use")
    untrained = out.index("Recipes not trained yet")
    assert ready < out.index("  jpeg ") < downloads < out.index("  mbt2018-mse ") < untrained
    assert out.index("  ek-hyperprior-mse") > untrained
    assert "quality 0–0" not in out and "UNAVAILABLE" not in out
