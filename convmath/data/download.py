"""Verified downloads: a file is either complete and checked, or absent.

A download streams into a temporary file in the destination folder, checks
it against the known digests, and only then is renamed into place (atomic on
POSIX); anything else (a network error, a truncated transfer, a wrong digest)
deletes the temporary file and tries the next mirror.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from convmath.errors import DataError

CHUNK = 1 << 20
MAX_CONTENT_BYTES = 1 << 30  # cap on decompressed content when hashing a .gz (gzip bombs)
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Digest:
    """An accepted checksum: of the file as stored ("file") or of its gunzipped content."""

    algorithm: str  # "sha256" or "md5" (md5 only where no SHA-256 is published)
    value: str
    of: str = "file"  # "file" or "content"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    urls: tuple[str, ...]  # mirrors, tried in order
    digests: tuple[Digest, ...]  # the download is accepted if any one matches


Opener = Callable[..., BinaryIO]


def file_digests(path: Path, digests: tuple[Digest, ...]) -> dict[Digest, str]:
    """Compute each requested digest of ``path`` (content digests gunzip it, size-capped)."""
    results: dict[Digest, str] = {}
    for of in ("file", "content"):
        wanted = [d for d in digests if d.of == of]
        if not wanted:
            continue
        hashers = {d: hashlib.new(d.algorithm) for d in wanted}
        with open(path, "rb") as raw:
            stream: BinaryIO = gzip.GzipFile(fileobj=raw) if of == "content" else raw
            total = 0
            try:
                while chunk := stream.read(CHUNK):
                    total += len(chunk)
                    if total > MAX_CONTENT_BYTES:
                        raise DataError(f"{path}: decompresses to over {MAX_CONTENT_BYTES} bytes")
                    for hasher in hashers.values():
                        hasher.update(chunk)
            except (OSError, EOFError, zlib.error) as error:
                raise DataError(f"{path}: corrupt compressed data ({error})") from None
        results.update({d: h.hexdigest() for d, h in hashers.items()})
    return results


def verify(path: Path, digests: tuple[Digest, ...]) -> bool:
    """True if any of ``digests`` matches ``path``."""
    computed = file_digests(path, digests)
    return any(computed[d] == d.value.lower() for d in digests)


def fetch(remote: RemoteFile, folder: Path, *, opener: Opener | None = None) -> Path:
    """Download ``remote`` into ``folder`` from the first mirror that gives a verified copy.

    Raises :class:`DataError` listing every mirror and what went wrong with it.
    """
    opener = opener or urllib.request.urlopen
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.name
    failures = []
    for url in remote.urls:
        handle, temporary = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                _copy_url(opener, url, out, remote.name)
                out.flush()
                os.fsync(out.fileno())
            if not verify(Path(temporary), remote.digests):
                failures.append(f"{url}: checksum mismatch (corrupt or different file)")
                continue
            os.replace(temporary, target)
            return target
        except DataError as error:
            failures.append(f"{url}: {error}")
        except urllib.error.HTTPError as error:
            failures.append(f"{url}: HTTP {error.code} {error.reason}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {getattr(error, 'reason', None) or error}")
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    raise DataError(f"could not download {remote.name}: " + "; ".join(failures))


def _copy_url(opener: Opener, url: str, out: BinaryIO, name: str) -> None:
    with opener(url, timeout=TIMEOUT_SECONDS) as response:
        expected = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        expected = int(expected) if expected and expected.isdigit() else None
        done = 0
        show = sys.stderr.isatty()
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if show:
                total = f" of {expected / 1e6:.1f} MB" if expected else ""
                print(f"\rdownloading {name}: {done / 1e6:.1f} MB{total}", end="", file=sys.stderr)
        if show:
            print(file=sys.stderr)
        if expected is not None and done != expected:
            raise DataError(f"transfer ended after {done} of {expected} bytes")
