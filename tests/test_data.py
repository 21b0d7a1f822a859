"""Tests for minigan.data: file formats, the download, every dataset, and the model conversions."""

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from minigan.data import DataError, Dataset, download_mnist, load_dataset, read_idx, write_csv, write_idx
from minigan.data.mnist import FASHION_MNIST_DIR

rng = np.random.default_rng(0)


def fake_digits(n=12):
    """Small MNIST-shaped arrays: uint8 (n, 28, 28) images and uint8 (n,) labels 0..9."""
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


# ---- IDX files --------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, suffix, dtype):
    x = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    write_idx(tmp_path / f"a.idx{suffix}", x)
    y = read_idx(tmp_path / f"a.idx{suffix}")
    assert y.dtype == x.dtype
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    y[0] = 0  # the result is an ordinary writable array


def test_idx_header_is_the_mnist_layout(tmp_path):
    write_idx(tmp_path / "labels", np.arange(7, dtype=np.uint8))
    raw = (tmp_path / "labels").read_bytes()
    assert raw[:8] == bytes([0, 0, 0x08, 1, 0, 0, 0, 7])  # magic 0x00000801, then the size 7
    assert len(raw) == 8 + 7


def test_idx_wrong_magic(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


@pytest.mark.parametrize(("cut", "word"), [(-5, "truncated"), (+3, "too long")])
def test_idx_wrong_size_names_both_counts(tmp_path, cut, word):
    write_idx(tmp_path / "img", np.zeros((2, 28, 28), np.uint8))
    raw = (tmp_path / "img").read_bytes()
    raw = raw[:cut] if cut < 0 else raw + bytes(cut)
    (tmp_path / "img").write_bytes(raw)
    expected = 16 + 2 * 28 * 28
    with pytest.raises(DataError, match=f"{word}.*{expected} bytes.*has {len(raw)}"):
        read_idx(tmp_path / "img")


def test_idx_damaged_gz(tmp_path):
    write_idx(tmp_path / "img.gz", np.zeros((50, 28, 28), np.uint8))
    raw = (tmp_path / "img.gz").read_bytes()
    (tmp_path / "img.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="img.gz"):
        read_idx(tmp_path / "img.gz")


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope")


# ---- download ---------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path):
    """A folder of two small gzipped IDX files served over HTTP on 127.0.0.1; yields (url, digests)."""
    served = tmp_path / "served"
    served.mkdir()
    images, labels = fake_digits()
    write_idx(served / "train-images-idx3-ubyte.gz", images)
    write_idx(served / "train-labels-idx1-ubyte.gz", labels)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(served.iterdir())}

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", digests
    server.shutdown()
    server.server_close()


def test_download_from_local_server(tmp_path, mirror):
    url, digests = mirror
    dest = tmp_path / "mnist-full"
    paths = download_mnist(dest, base_url=url, sha256=digests)
    assert [p.name for p in paths] == list(digests)
    assert sorted(p.name for p in dest.iterdir()) == sorted(digests)  # no temporary files left
    ds = load_dataset("mnist-full", data_dir=dest)
    assert ds.x.shape == (12, 1, 28, 28)
    assert ds.x.dtype == np.uint8
    np.testing.assert_array_equal(ds.y, np.arange(12) % 10)


def test_download_keeps_verified_files(tmp_path, mirror):
    url, digests = mirror
    download_mnist(tmp_path, base_url=url, sha256=digests)
    # A second call with an unreachable mirror succeeds: the files are there and verified.
    download_mnist(tmp_path, base_url="http://127.0.0.1:9/", sha256=digests)


def test_download_digest_mismatch_leaves_nothing(tmp_path, mirror):
    url, digests = mirror
    name = "train-labels-idx1-ubyte.gz"
    wrong = dict(digests, **{name: "0" * 64})
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=f"{name} .* SHA-256 {digests[name]}, expected 0{{64}}"):  # actual, expected
        download_mnist(dest, base_url=url, sha256=wrong)
    assert not (dest / "train-labels-idx1-ubyte.gz").exists()
    assert [p.name for p in dest.iterdir()] == ["train-images-idx3-ubyte.gz"]  # only the good one, no .part


def test_download_file_url_and_missing_file(tmp_path, mirror):
    _, digests = mirror
    served = tmp_path / "served"
    download_mnist(tmp_path / "a", base_url=served.as_uri(), sha256=digests)
    name = "train-images-idx3-ubyte.gz"
    assert (tmp_path / "a" / name).read_bytes() == (served / name).read_bytes()
    with pytest.raises(DataError, match="could not download"):
        download_mnist(tmp_path / "b", base_url=served.as_uri(), sha256={"t10k-images-idx3-ubyte.gz": "0" * 64})
    assert list((tmp_path / "b").iterdir()) == []


# ---- MNIST-style datasets ---------------------------------------------------


def test_bundled_mnist():
    ds = load_dataset("mnist")
    assert ds.kind == "images"
    assert len(ds) == 10_000
    assert ds.x.shape == (10_000, 1, 28, 28)
    assert ds.x.dtype == np.uint8
    assert ds.y.dtype == np.int64
    assert set(ds.y.tolist()) == set(range(10))
    assert ds.x.max() == 255
    assert ds.x.min() == 0
    assert sorted(ds.y[:10].tolist()) == list(range(10))  # the interleaved order: one of each digit first


def test_bundled_mnist_subset_is_balanced():
    full = load_dataset("mnist")
    ds = load_dataset("mnist", subset=1000)
    assert ds.x.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(ds.x, full.x[:1000])
    counts = np.bincount(ds.y, minlength=10)
    assert counts.min() >= 80
    assert counts.max() <= 120


def test_bundled_mnist_missing(tmp_path):
    with pytest.raises(DataError, match=r"--data-dir .* has no mnist.npz; leave out --data-dir"):
        load_dataset("mnist", data_dir=tmp_path)


def test_bundled_mnist_is_package_data(tmp_path, monkeypatch):
    """The digits live inside the package (a wheel carries them) and load from any folder."""
    import minigan

    assert (Path(minigan.__file__).parent / "data" / "mnist.npz").is_file()
    monkeypatch.chdir(tmp_path)
    assert len(load_dataset("mnist")) == 10_000


def test_downloads_go_to_the_cache_folder(tmp_path, monkeypatch):
    """mnist-full is downloaded into $MINIGAN_CACHE_DIR (else the user cache folder), not next to the code."""
    import minigan.data.mnist as mnist

    seen = []

    def fake_download(dest):
        seen.append(Path(dest))
        Path(dest).mkdir(parents=True)
        images, labels = fake_digits(3)
        write_idx(Path(dest) / "train-images-idx3-ubyte.gz", images)
        write_idx(Path(dest) / "train-labels-idx1-ubyte.gz", labels)

    monkeypatch.setattr(mnist, "download_mnist", fake_download)
    monkeypatch.setenv("MINIGAN_CACHE_DIR", str(tmp_path / "cache"))
    assert len(load_dataset("mnist-full")) == 3
    assert seen == [tmp_path / "cache" / "mnist-full"]
    monkeypatch.delenv("MINIGAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.cache_dir() == tmp_path / "xdg" / "minigan"


def test_download_into_unwritable_folder_names_the_variable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="MINIGAN_CACHE_DIR"):
        download_mnist(blocker / "mnist-full", base_url="http://127.0.0.1:9/")


def test_mnist_resized_and_rgb():
    ds = load_dataset("mnist", subset=4, image_size=32, channels=3)
    assert ds.x.shape == (4, 3, 32, 32)
    assert ds.x.dtype == np.uint8
    np.testing.assert_array_equal(ds.x[:, 0], ds.x[:, 2])  # grey repeated into R, G and B


def test_idx_folder_with_plain_files(tmp_path):
    images, labels = fake_digits(5)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, subset=3)
    np.testing.assert_array_equal(ds.x[:, 0], images[:3])


def test_idx_folder_mismatched_counts(tmp_path):
    images, labels = fake_digits(5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:4])
    with pytest.raises(DataError, match="5 images"):
        load_dataset("mnist-full", data_dir=tmp_path)


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_installed():
    ds = load_dataset("fashion-mnist")
    assert ds.x.shape == (60_000, 1, 28, 28)
    assert np.bincount(ds.y).tolist() == [6000] * 10


# ---- model input and output -------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(-1.0, 1.0), (0.0, 1.0)])
def test_model_input_and_back(low, high):
    ds = load_dataset("mnist", subset=64)
    x = ds.model_input(low, high)
    assert x.dtype == np.float32
    assert x.shape == ds.x.shape
    assert x.min() == low
    assert x.max() == high
    np.testing.assert_array_equal(ds.from_model(x, low, high), ds.x)
    assert ds.model_input(low, high, dtype=np.float64).dtype == np.float64


def test_from_model_clips_and_rounds():
    ds = load_dataset("mnist", subset=1)
    out = ds.from_model(np.array([-1.5, -1.0, 0.0, 1.0, 1.2]), -1, 1)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_points_and_table_pass_through():
    ds = load_dataset("ring8", n_points=10)
    x = ds.model_input(-1, 1)
    np.testing.assert_array_equal(x, ds.x)
    x[:] = 0  # a copy: the dataset is not changed
    assert ds.x.any()
    np.testing.assert_array_equal(ds.from_model(ds.x, -1, 1), ds.x)


def test_dataset_checks_its_layout():
    with pytest.raises(DataError, match="4-D"):
        Dataset(name="bad", kind="images", x=np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="kind"):
        Dataset(name="bad", kind="audio", x=np.zeros((3, 2)))


# ---- 2-D mixtures -----------------------------------------------------------


@pytest.mark.parametrize(("name", "modes", "std"), [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixtures(name, modes, std):
    ds = load_dataset(name, n_points=5000, seed=3)
    assert ds.kind == "points"
    assert ds.x.shape == (5000, 2)
    assert ds.x.dtype == np.float32
    assert ds.centers.shape == (modes, 2)
    assert ds.mode_std == std
    assert set(ds.y.tolist()) == set(range(modes))  # every mode is sampled
    distance = np.linalg.norm(ds.x - ds.centers[ds.y], axis=1)
    assert distance.max() < 6 * std
    np.testing.assert_array_equal(ds.x, load_dataset(name, n_points=5000, seed=3).x)
    assert not np.array_equal(ds.x, load_dataset(name, n_points=5000, seed=4).x)


def test_mixture_centres():
    ring = load_dataset("ring8", n_points=1).centers
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
    grid = load_dataset("grid25", n_points=1).centers
    assert sorted(set(grid[:, 0].tolist())) == [-4, -2, 0, 2, 4]


# ---- folder of images -------------------------------------------------------


def test_folder_of_images(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    Image.new("L", (40, 40), 10).save(tmp_path / "b.png")
    Image.new("RGB", (60, 30), (200, 0, 0)).save(tmp_path / "a.PNG")
    Image.new("RGB", (16, 16), (0, 0, 250)).save(tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    grey = load_dataset(f"folder:{tmp_path}", image_size=16)
    assert grey.x.shape == (3, 1, 16, 16)
    assert grey.x.dtype == np.uint8
    assert grey.y is None
    assert grey.x[1].max() == 10  # sorted order: a.PNG, b.png, c.jpg
    rgb = load_dataset(f"folder:{tmp_path}", image_size=8, channels=3)
    assert rgb.x.shape == (3, 3, 8, 8)
    assert rgb.x[0, 0].min() > 190
    assert rgb.x[0, 1].max() < 10
    assert rgb.x[2, 2].min() > 230  # c.jpg is blue


def test_sub_folders_are_classes_in_sorted_order(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for name, shades in (("b_dogs", [200, 210, 220]), ("a_cats", [10, 20]), ("empty", [])):
        (tmp_path / name).mkdir()
        for i, shade in enumerate(shades):
            Image.new("L", (8, 8), shade).save(tmp_path / name / f"{i}.png")
    (tmp_path / "a_cats" / "deeper").mkdir()
    Image.new("L", (8, 8), 99).save(tmp_path / "a_cats" / "deeper" / "x.png")  # not searched
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    np.testing.assert_array_equal(ds.y, [0, 0, 1, 1, 1])
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x[:, 0, 0, 0], [10, 20, 200, 210, 220])


def test_a_folder_with_its_own_images_has_no_labels(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    Image.new("L", (8, 8), 5).save(tmp_path / "top.png")
    (tmp_path / "sub").mkdir()
    Image.new("L", (8, 8), 7).save(tmp_path / "sub" / "x.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert ds.y is None and len(ds) == 1


def test_folder_errors(tmp_path):
    pytest.importorskip("PIL.Image")
    with pytest.raises(DataError, match="no .png"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        load_dataset(f"folder:{tmp_path}")


# ---- CSV tables -------------------------------------------------------------


def test_csv_table(tmp_path):
    (tmp_path / "t.csv").write_text("height, weight,flag\n1.5,60,1\n1.7,80,1\n\n1.9,70,1\n")
    ds = load_dataset(f"csv:{tmp_path / 't.csv'}")
    assert ds.kind == "table"
    assert ds.columns == ["height", "weight", "flag"]
    assert ds.x.shape == (3, 3)
    assert ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[:, :2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(ds.x[:, :2].std(axis=0), 1, atol=1e-6)
    assert ds.std[2] == 1.0
    assert not ds.x[:, 2].any()
    np.testing.assert_allclose(ds.from_model(ds.x, -1, 1), [[1.5, 60, 1], [1.7, 80, 1], [1.9, 70, 1]], rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n3,x\n", "line 3, column 'b': 'x'"),
        ("a,b\n1,\n", "line 2, column 'b'"),
        ("a,b\n1,nan\n", "not a finite number"),
        ("a,b\n1,2,3\n", "3 cells"),
        ("a,b\n", "no data rows"),
        ("", "empty"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        load_dataset(f"csv:{tmp_path / 't.csv'}")


@pytest.mark.parametrize("column", ["kind", "1", "-2"], ids=["name", "position", "from the end"])
def test_csv_label_column_gives_labels_and_leaves_the_table(tmp_path, column):
    (tmp_path / "t.csv").write_text("height,kind,weight\n1.5,0,60\n1.7,2,80\n1.9,1,70\n")
    ds = load_dataset(f"csv:{tmp_path / 't.csv'}", label_column=column)
    assert ds.columns == ["height", "weight"] and ds.x.shape == (3, 2)
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, [0, 2, 1])
    np.testing.assert_allclose(ds.from_model(ds.x, -1, 1), [[1.5, 60], [1.7, 80], [1.9, 70]], rtol=1e-6)
    np.testing.assert_array_equal(ds.head(2).y, [0, 2])
    assert load_dataset(f"csv:{tmp_path / 't.csv'}").y is None  # no --label-column: no labels


@pytest.mark.parametrize(
    ("text", "column", "match"),
    [
        ("a,b\n1,2\n", "c", r"--label-column c: .* has no such column; its columns are a, b \(a name, or a position 0..1\)"),
        ("a,b\n1,2\n", "2", "has no such column"),
        ("a,b\n1,2.5\n3,1\n", "b", r"label column 'b': labels must be whole numbers 0, 1, 2, ...; data row 1 has 2.5"),
        ("a,b\n1,1\n3,-1\n", "b", "data row 2 has -1"),
        ("a\n1\n", "a", "the label column 'a' is its only column"),
    ],
    ids=["unknown name", "position past the end", "not whole", "negative", "nothing left"],
)
def test_csv_label_column_errors(tmp_path, text, column, match):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        load_dataset(f"csv:{tmp_path / 't.csv'}", label_column=column)


def test_label_column_is_for_csv_only():
    with pytest.raises(DataError, match="--label-column is for csv: tables; dataset 'ring8'"):
        load_dataset("ring8", label_column="0")


def test_write_csv_round_trip(tmp_path):
    values = rng.standard_normal((5, 2)) * [1, 1000]
    write_csv(tmp_path / "out.csv", values, ["x", "y, in grams"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # the temporary file is gone
    ds = load_dataset(f"csv:{tmp_path / 'out.csv'}")
    assert ds.columns == ["x", "y, in grams"]
    np.testing.assert_allclose(ds.from_model(ds.x.astype(np.float64), -1, 1), values, rtol=1e-6)
    with pytest.raises(DataError, match="columns"):
        write_csv(tmp_path / "bad.csv", values, ["only one"])


# ---- load_dataset arguments -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("cifar10", {}, "unknown dataset 'cifar10'"),
        ("folder:", {}, "folder:PATH"),
        ("mnist", {"subset": 0}, "subset"),
        ("mnist", {"subset": -5}, "subset"),
        ("mnist", {"subset": True}, "subset"),
        ("mnist", {"channels": 2}, "channels"),
        ("ring8", {"n_points": 0}, "n_points"),
        (f"csv:{Path('/nonexistent/t.csv')}", {}, "does not exist"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    with pytest.raises(DataError, match=match):
        load_dataset(name, **kwargs)


def test_subset_larger_than_dataset_keeps_all():
    assert len(load_dataset("ring8", n_points=10, subset=50)) == 10
