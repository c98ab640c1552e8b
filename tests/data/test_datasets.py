"""Named datasets, the data directory and verified downloads (from a local server only)."""

import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
from data_fixtures import cifar_archive, write_cifar_batches, write_idx_dataset

import convmath as cm
from convmath import data
from convmath.data import datasets
from convmath.data.download import Digest, RemoteFile, fetch

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_from_the_shared_copy(mnist_dir):
    images, labels = data.load("mnist", "train", data_dir=mnist_dir, download=False)
    assert images.shape == (60000, 28, 28, 1)
    assert images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == MNIST_TRAIN_COUNTS
    test_images, test_labels = data.load("mnist", "test", data_dir=mnist_dir, download=False)
    assert test_images.shape == (10000, 28, 28, 1)
    assert len(test_labels) == 10000
    mean, std = data.channel_stats(images, 1 / 255)
    np.testing.assert_allclose([mean[0], std[0]], [0.1307, 0.3081], atol=5e-5)


def test_shared_mnist_matches_the_official_content_digests(mnist_dir):
    for remote in datasets.REMOTE_FILES["mnist"].values():
        assert data.download.verify(mnist_dir / "mnist" / remote.name, remote.digests)


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch, rng):
    write_idx_dataset(tmp_path / "mnist", rng)
    monkeypatch.setenv("CONVMATH_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    images, _labels = data.load("mnist", "test", download=False)
    assert images.shape == (5, 28, 28, 1)
    monkeypatch.delenv("CONVMATH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.default_data_dir() == tmp_path / "cache" / "convmath"


def test_digits_split_is_fixed_stratified_and_disjoint():
    train_images, _train_labels = data.load("digits", "train")
    test_images, test_labels = data.load("digits", "test")
    assert train_images.shape == (1438, 8, 8, 1)
    assert test_images.shape == (359, 8, 8, 1)
    assert data.info("digits").sizes == {"train": 1438, "test": 359}
    np.testing.assert_array_equal(data.load("digits", "test")[1], test_labels)
    counts = np.bincount(test_labels)
    assert counts.min() >= 35
    assert counts.max() <= 37
    all_images = data.load_digits()[0]
    rows = {row.tobytes() for row in test_images.reshape(len(test_images), -1)}
    assert len(rows) + len(train_images) >= len(all_images) - 10  # few exact duplicates


def test_missing_files_offline_say_what_where_and_how(tmp_path):
    with pytest.raises(cm.DataError) as caught:
        data.load("fashion-mnist", "train", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "fashion-mnist") in message
    assert "CONVMATH_DATA" in message


def test_bad_names_and_splits():
    with pytest.raises(cm.InvalidArgumentError, match="unknown dataset 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(cm.InvalidArgumentError, match="split must be"):
        data.load("digits", "dev")


def test_a_named_dataset_is_known_in_any_case(mnist_dir):
    assert data.dataset_name("MNIST") == "mnist"
    assert data.info("Digits").image_shape == (8, 8, 1)
    images, labels = data.load("MNIST", "test", mnist_dir)
    assert images.shape == (10000, 28, 28, 1)
    assert labels.shape == (10000,)


def test_an_unknown_dataset_gets_the_closest_name():
    with pytest.raises(
        cm.InvalidArgumentError, match=r"^unknown dataset 'mnsit'; expected one of .*\?$"
    ) as caught:
        data.load("mnsit")
    assert str(caught.value).endswith("; did you mean 'mnist'?")
    with pytest.raises(cm.InvalidArgumentError) as caught:
        data.info("imagenet")
    assert "did you mean" not in str(caught.value)
    assert "folder" not in str(caught.value)  # info knows named datasets only


def test_a_folder_of_that_exact_name_wins_over_a_name_in_another_case(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Digits").mkdir()
    assert data.dataset_name("Digits") == "Digits"
    assert data.dataset_name("DIGITS") == "digits"


def test_label_count_mismatch_is_reported(tmp_path, rng):
    arrays = write_idx_dataset(tmp_path / "mnist", rng)
    import gzip

    from data_fixtures import idx_bytes

    labels = np.zeros(len(arrays["t10k"][1]) + 1, dtype=np.uint8)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(
        cm.DataError, match=r"holds 5 images but t10k-labels-idx1-ubyte\.gz holds 6"
    ):
        data.load("mnist", "test", data_dir=tmp_path, download=False)


def test_labels_out_of_range_are_reported(tmp_path, rng):
    import gzip

    from data_fixtures import idx_bytes

    write_idx_dataset(tmp_path / "mnist", rng)
    labels = np.array([0, 1, 12, 3, 4], dtype=np.uint8)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(cm.DataError, match=r"1 labels outside 0..9, e.g. \[12\]"):
        data.load("mnist", "test", data_dir=tmp_path, download=False)


def test_cifar10_from_extracted_batches(tmp_path, rng):
    written = write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-bin", rng)
    images, labels = data.load("cifar10", "train", data_dir=tmp_path, download=False)
    assert images.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(images[:4], written["data_batch_1.bin"][0])
    np.testing.assert_array_equal(labels[-4:], written["data_batch_5.bin"][1])
    test_images, _ = data.load("cifar10", "test", data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(test_images, written["test_batch.bin"][0])


# ------------------------------------------------------------ downloads, from 127.0.0.1 only
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A file server on 127.0.0.1 serving tmp_path/'www'; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_download_verifies_and_falls_back_to_the_next_mirror(server, tmp_path):
    root, base = server
    good = b"the real file" * 1000
    (root / "bad").mkdir()
    (root / "good").mkdir()
    (root / "bad" / "f.bin").write_bytes(b"tampered")
    (root / "good" / "f.bin").write_bytes(good)
    remote = RemoteFile(
        "f.bin",
        (base + "bad/f.bin", base + "missing/f.bin", base + "good/f.bin"),
        (Digest("sha256", sha256(good)),),
    )
    target = fetch(remote, tmp_path / "cache")
    assert target.read_bytes() == good
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["f.bin"]


def test_failed_download_leaves_nothing_behind(server, tmp_path):
    root, base = server
    (root / "f.bin").write_bytes(b"tampered")
    remote = RemoteFile("f.bin", (base + "f.bin", base + "nope.bin"), (Digest("sha256", "0" * 64),))
    with pytest.raises(cm.DataError) as caught:
        fetch(remote, tmp_path / "cache")
    message = str(caught.value)
    assert "checksum mismatch" in message
    assert "HTTP 404" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_content_digest_accepts_a_recompressed_gzip(server, tmp_path):
    import gzip

    root, base = server
    content = b"idx content" * 100
    (root / "x.gz").write_bytes(gzip.compress(content, mtime=12345))
    remote = RemoteFile("x.gz", (base + "x.gz",), (Digest("sha256", sha256(content), "content"),))
    assert gzip.decompress(fetch(remote, tmp_path).read_bytes()) == content


def test_truncated_transfer_is_rejected(tmp_path):
    class Truncated:
        headers = {"Content-Length": "100"}  # noqa: RUF012 - a stand-in response

        def __init__(self):
            self.sent = False

        def read(self, n):
            if self.sent:
                return b""
            self.sent = True
            return b"x" * 40

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    remote = RemoteFile("t.bin", ("http://127.0.0.1:9/t.bin",), (Digest("sha256", "0" * 64),))
    with pytest.raises(cm.DataError, match="transfer ended after 40 of 100 bytes"):
        fetch(remote, tmp_path, opener=lambda url, timeout: Truncated())
    assert list(tmp_path.iterdir()) == []


def test_load_downloads_missing_idx_files(server, tmp_path, monkeypatch, rng):
    root, base = server
    arrays = write_idx_dataset(root, rng)
    remotes = {
        path.name: RemoteFile(
            path.name, (base + path.name,), (Digest("sha256", sha256(path.read_bytes())),)
        )
        for path in root.iterdir()
    }
    monkeypatch.setitem(datasets.REMOTE_FILES, "mnist", remotes)
    images, _labels = data.load("mnist", "train", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(images[..., 0], arrays["train"][0])
    assert (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_load_downloads_and_extracts_cifar10(server, tmp_path, monkeypatch, rng):
    root, base = server
    written = write_cifar_batches(tmp_path / "made", rng)
    archive = cifar_archive(tmp_path / "made")
    (root / "cifar-10-binary.tar.gz").write_bytes(archive)
    remote = RemoteFile(
        "cifar-10-binary.tar.gz",
        (base + "cifar-10-binary.tar.gz",),
        (Digest("sha256", sha256(archive)),),
    )
    monkeypatch.setitem(datasets.REMOTE_FILES, "cifar10", {remote.name: remote})
    images, labels = data.load("cifar10", "test", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(images, written["test_batch.bin"][0])
    np.testing.assert_array_equal(labels, written["test_batch.bin"][1])


def test_hostile_cifar_archive_is_refused(tmp_path, monkeypatch):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    archive = buffer.getvalue()
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / "cifar-10-binary.tar.gz").write_bytes(archive)
    remote = RemoteFile(
        "cifar-10-binary.tar.gz", ("http://127.0.0.1:9/x",), (Digest("sha256", sha256(archive)),)
    )
    monkeypatch.setitem(datasets.REMOTE_FILES, "cifar10", {remote.name: remote})
    with pytest.raises(cm.DataError, match="not a regular file"):
        data.load("cifar10", "train", data_dir=tmp_path, download=False)
    assert not (folder / "cifar-10-batches-bin" / "data_batch_1.bin").exists()
