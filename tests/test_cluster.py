"""Beyond one machine: compress and metrics on a real Dask cluster (``distributed.LocalCluster``
with 2 worker processes), a worker killed mid-run, and job-array shards joined by ``merge``.

Kept small: 3 crops of Kodak images (320×480: one 256-px patch each) × jpeg, webp × 2 rates. Dask starts its workers with
``OMP_NUM_THREADS=1`` (``distributed.nanny.pre-spawn-environ``), and oneDNN's float32 sums in the
Inception network depend on the number of threads (pool3 features move by ~1e-6), so the local
runs these are compared with use one torch thread too: same code, same threads, same values.
"""

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from evalkit.cli import main
from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.errors import InputError
from evalkit.executors import DaskExecutor, LocalExecutor
from evalkit.merge import merge_runs
from evalkit.metrics import MetricEngine, read_pairs, read_table
from evalkit.shards import Shard

IMAGES = ("kodim03", "kodim07", "kodim23")
CODECS = ["jpeg", "webp"]
TARGETS = [0.4, 0.8]
METRICS = ["psnr", "ms-ssim", "lpips", "fid", "kid"]
TIMINGS = ["encode_s", "decode_s"]  # seconds: the only columns that may differ


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images(kodak_dir, tmp_path_factory):
    from PIL import Image

    from evalkit.images import load_image

    folder = tmp_path_factory.mktemp("crops")
    for name in IMAGES:
        Image.fromarray(load_image(kodak_dir / f"{name}.png")[:320, :480]).save(folder / f"{name}.png")
    return resolve_images(str(folder))


@pytest.fixture(scope="module")
def weights(shared_dir):
    return str(shared_dir / "weights")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """2 worker processes of one thread each, with an encode cache of their own."""
    from distributed import Client, LocalCluster

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("worker-cache")))
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
            Client(lc) as client,
        ):
            yield client


@pytest.fixture(scope="module")
def local_run(images, weights, tmp_path_factory):
    """The reference: compress and metrics on this machine, with a cache of their own."""
    out = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("local-cache")))
        manifest = compress(images, CODECS, TARGETS, out, workers=1, progress=False).manifest
        result = MetricEngine(METRICS, weights_dir=weights, device="cpu").evaluate(
            read_pairs(out / "manifest.csv"), root=out, progress=False
        )
    return out, manifest, result


def assert_same_run(out, manifest, reference_out, reference_manifest):
    """Same rows (timings aside), and the same bytes in every bitstream and reconstruction."""
    pd.testing.assert_frame_equal(manifest.drop(columns=TIMINGS), reference_manifest.drop(columns=TIMINGS))
    for column in ("bitstream", "reconstruction", "reference"):
        for a, b in zip(manifest[column], reference_manifest[column]):
            assert (out / a).read_bytes() == (reference_out / b).read_bytes(), a


def assert_same_values(pairs, sets, reference):
    columns = ["psnr", "ms_ssim", "lpips"]
    np.testing.assert_array_equal(pairs[columns].to_numpy(), reference.pairs[columns].to_numpy())
    pd.testing.assert_frame_equal(sets.reset_index(drop=True), reference.sets)


@pytest.mark.slow
def test_dask_cluster_gives_the_local_run(cluster, local_run, images, weights, tmp_path):
    local_out, local_manifest, local_metrics = local_run
    assert set(cluster.run(torch.get_num_threads).values()) == {1}
    executor = DaskExecutor(client=cluster, batch=1)
    result = compress(images, CODECS, TARGETS, tmp_path / "run", progress=False, executor=executor)
    assert result.errors == [] and result.fresh_encodes > 0  # encoded on the workers, not cached
    assert_same_run(tmp_path / "run", result.manifest, local_out, local_manifest)

    engine = MetricEngine(METRICS, weights_dir=weights, device="cpu")  # this test's empty cache
    measured = engine.evaluate(
        read_pairs(tmp_path / "run" / "manifest.csv"),
        root=tmp_path / "run",
        progress=False,
        executor=DaskExecutor(client=cluster),
    )
    assert engine._inception is None  # the features were computed on the workers
    assert_same_values(measured.pairs, measured.sets, local_metrics)
    assert (measured.sets["n_samples_patch"] > 0).all() and np.isfinite(measured.sets["fid_patch"]).all()

    address = cluster.scheduler.address  # the command line, through the scheduler's address
    assert (
        main(
            [
                "metrics",
                "--manifest",
                str(tmp_path / "run" / "manifest.csv"),
                "--metrics",
                "psnr",
                "--no-cache",
                "--scheduler",
                address,
                "--quiet",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(
        read_table(tmp_path / "run" / "metrics.csv")["psnr"], local_metrics.pairs["psnr"]
    )


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(cluster, local_run, images, tmp_path):
    local_out, local_manifest, _ = local_run
    pids = cluster.run(os.getpid)
    killed = {}

    def kill_a_busy_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for address, keys in cluster.processing().items():
                if any(str(k).startswith("evalkit-run_job") for k in keys):
                    manifest = tmp_path / "run" / "manifest.csv"
                    killed["done_before"] = len(pd.read_csv(manifest)) if manifest.is_file() else 0
                    os.kill(pids[address], signal.SIGKILL)
                    killed["pid"] = pids[address]
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    result = compress(
        images,
        CODECS,
        TARGETS,
        tmp_path / "run",
        progress=False,
        executor=DaskExecutor(client=cluster, batch=1),
    )
    killer.join()
    assert "pid" in killed, "no worker was busy to be killed"
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert killed["done_before"] < len(local_manifest), "the run had finished before the kill"
    assert result.errors == []
    assert_same_run(tmp_path / "run", result.manifest, local_out, local_manifest)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the next test


@pytest.mark.slow
def test_shards_merged_equal_the_unsharded_run(local_run, images, weights, tmp_path, capsys):
    local_out, local_manifest, local_metrics = local_run
    metrics = ",".join(METRICS)
    shards = []
    for k in (1, 2, 3):
        shard = tmp_path / f"shard{k}"
        part = compress(images, CODECS, TARGETS, shard, workers=1, progress=False, shard=Shard(k, 3))
        assert 0 < len(part.manifest) < len(local_manifest)
        assert (
            main(
                [
                    "metrics",
                    "--manifest",
                    str(shard / "manifest.csv"),
                    "--metrics",
                    metrics,
                    "--weights-dir",
                    weights,
                    "--device",
                    "cpu",
                    "--quiet",
                ]
            )
            == 0
        )
        shards.append(str(shard))
    assert main(["merge", *shards, "--out", str(tmp_path / "merged")]) == 0
    merged = tmp_path / "merged"
    manifest = read_table(merged / "manifest.csv")
    assert_same_run(merged, manifest, local_out, local_manifest)
    # FID from one shard's images alone is not the FID of the set: merge recomputes it
    assert_same_values(
        read_table(merged / "metrics.csv"), read_table(merged / "metrics_sets.csv"), local_metrics
    )

    # metrics sharded by reference over one manifest, joined in its folder
    tables = []
    for k in (1, 2, 3):
        assert (
            main(
                [
                    "metrics",
                    "--manifest",
                    str(merged / "manifest.csv"),
                    "--metrics",
                    metrics,
                    "--weights-dir",
                    weights,
                    "--device",
                    "cpu",
                    "--shard",
                    f"{k}/3",
                    "--quiet",
                ]
            )
            == 0
        )
        tables.append(str(merged / f"metrics-shard-{k}-of-3.csv"))
        assert not (merged / f"metrics-shard-{k}-of-3_sets.csv").exists()
    again = tmp_path / "again"
    result = merge_runs(tables, again)
    assert_same_values(result.pairs, result.sets, local_metrics)
    assert (again / result.pairs["reconstruction"][0]).is_file()  # paths rebased onto the output


def test_merge_refuses_what_does_not_add_up(tmp_path, images, capsys):
    one = images[:1]
    for k in (1, 2):
        compress(one, CODECS, [1.0], tmp_path / f"s{k}", workers=1, progress=False, shard=Shard(k, 3))
    with pytest.raises(InputError, match="shard 3/3 missing"):
        merge_runs([tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")
    with pytest.raises(InputError, match="shard 1/3 given twice"):
        merge_runs([tmp_path / "s1", tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")
    compress(one, CODECS, [0.5], tmp_path / "other", workers=1, progress=False, shard=Shard(3, 3))
    with pytest.raises(InputError, match="different commands"):
        merge_runs([tmp_path / "s1", tmp_path / "s2", tmp_path / "other"], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    compress(one, CODECS, [1.0], tmp_path / "s3", workers=1, progress=False, shard=Shard(3, 3))
    assert main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "out")]) == 2
    assert "compress shard 3/3 missing" in capsys.readouterr().err
    # shard 3 of 3 of a 2-job plan is empty: an empty share is a valid shard
    assert main(["merge", *(str(tmp_path / f"s{k}") for k in (1, 2, 3)), "--out", str(tmp_path / "out")]) == 0
    assert len(pd.read_csv(tmp_path / "out" / "manifest.csv")) == 2


def test_bad_shards_and_schedulers_are_input_errors(capsys):
    for text in ("0/3", "4/3", "2", "a/b", "1/0"):
        with pytest.raises(InputError, match="--shard"):
            Shard.parse(text)
    assert Shard.parse(" 2/3 ").take(list(range(8))) == [1, 4, 7]
    with pytest.raises(SystemExit) as exc:
        main(["metrics", "--manifest", "m.csv", "--shard", "3/2"])
    assert exc.value.code == 2 and "K must be between 1 and N" in capsys.readouterr().err
    with pytest.raises(InputError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1)
    with pytest.raises(InputError, match="workers must be at least 1"):
        LocalExecutor(0)


@pytest.mark.slow
def test_a_worker_without_the_codec_reports_its_jobs(images, tmp_path):
    """A worker whose zoo lacks a learned codec the client has: its jobs are reported with the
    worker's address and the reason, the others done."""
    from distributed import Client, LocalCluster

    empty = tmp_path / "no-codecs"
    empty.mkdir()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"EVALKIT_ZOO_DIR": str(empty)},
        ) as lc,
        Client(lc) as client,
    ):
        result = compress(
            images[:1],
            ["jpeg", "ek-variable-rate-mse"],
            [0.5],
            tmp_path / "run",
            device="cpu",
            progress=False,
            executor=DaskExecutor(client=client),
        )
    assert list(result.manifest["codec"]) == ["jpeg"]
    [error] = result.errors
    assert error.startswith(f"{IMAGES[0]} × ek-variable-rate-mse: InputError: unknown codec")
    assert "(on Dask worker tcp://127.0.0.1:" in error


@pytest.mark.slow
def test_a_unit_failing_on_a_worker_is_reported_and_the_others_kept(cluster, local_run, tmp_path):
    """One reference whose reconstruction does not fit it: the error names the worker, the other
    references' values are in the cache, so the re-run after the fix computes only that one."""
    from PIL import Image

    local_out, _, local_metrics = local_run
    table = read_pairs(local_out / "manifest.csv")
    table["reference"] = [str(local_out / p) for p in table["reference"]]
    table["reconstruction"] = [str(local_out / p) for p in table["reconstruction"]]
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(small)
    broken = table.copy()
    broken.loc[0, "reconstruction"] = str(small)
    engine = MetricEngine(["psnr"], device="cpu")
    with pytest.raises(
        InputError,
        match=r"(?s)1 of 3 references could not be measured.*small\.png is "
        r"200×200.*\(on Dask worker tcp://",
    ):
        engine.evaluate(broken, progress=False, executor=DaskExecutor(client=cluster))
    reference = broken.loc[0, "reference"]
    units = []
    executor = DaskExecutor(client=cluster)
    run = executor.run
    executor.run = lambda fn, todo: (units.extend(todo), run(fn, todo))[1]
    fixed = engine.evaluate(table, progress=False, executor=executor)
    assert [u.reference for u in units] == [reference]
    np.testing.assert_array_equal(fixed.pairs["psnr"], local_metrics.pairs["psnr"])
