"""botocore's data files (a service's model and endpoint rules, the partitions, the retry and
default configurations) read at a client's creation from a cache written at build time.

botocore decodes them from JSON into OrderedDicts: for a DynamoDB client, about 1.3 MB of JSON
(the partitions' endpoints.json alone is 1.25 MB), about a tenth of a function's cold start.
The cache holds the same data as marshal files, which Python reads about ten times faster.

`python -m teamledger.store.botocore_data` (run by `make build` before `sam build`, so the
layer ships it, and by `make bench` before measuring cold starts) writes it for the services the
functions make clients of. It is keyed by botocore's version and Python's, since marshal's
format is Python's own: a layer with another botocore, or no cache at all, reads botocore's
JSON as usual. The cache is a build product (git-ignored), never edited.
"""

import marshal
import sys
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders

# The services the layer makes its own clients of: the table, the audit carrier (SQS FIFO or
# Kinesis). (The master key's secret is read through Powertools' own boto3 client.)
SERVICES = ("dynamodb", "sqs", "kinesis")
CACHE = Path(__file__).with_name("_botocore_data")
BUILTIN = Path(botocore.loaders.Loader.BUILTIN_DATA_PATH)


def cache_dir() -> Path:
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return CACHE / f"botocore-{botocore.__version__}-{version}"


def _cached_path(file_path: str) -> Path | None:
    """Where a data file's cache would be: only botocore's own data has one."""
    path = Path(file_path)
    if not path.is_relative_to(BUILTIN):
        return None
    return cache_dir() / (path.relative_to(BUILTIN).as_posix() + ".marshal")


class CachedDataFiles(botocore.loaders.JSONFileLoader):
    """botocore's JSON file loader, answering from the cache where it has the file."""

    def load_file(self, file_path: str) -> Any:
        cached = _cached_path(file_path)
        if cached is not None:
            try:
                return marshal.loads(cached.read_bytes())
            except (OSError, ValueError, EOFError, TypeError):
                pass  # no cache here (or not this Python's): botocore's JSON
        return super().load_file(file_path)


def _plain(value: Any) -> Any:
    """OrderedDicts as dicts (marshal stores only plain types; dicts keep their order)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class _Recording(botocore.loaders.JSONFileLoader):
    """botocore's loader, noting which of its own data files a client reads."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def load_file(self, file_path: str) -> Any:
        data = super().load_file(file_path)
        if data is not None and _cached_path(file_path) is not None:
            self.paths.append(file_path)
        return data


def write(services: tuple[str, ...] = SERVICES) -> list[Path]:
    """Make a client of each service with a recording loader; cache every file it read."""
    from teamledger.store.client import _session

    recording = _Recording()
    for service in services:
        session = _session(file_loader=recording)
        session.create_client(service, region_name="us-east-1", aws_access_key_id="build",
                              aws_secret_access_key="build")
    written = []
    for file_path in dict.fromkeys(recording.paths):
        target = _cached_path(file_path)
        assert target is not None  # recorded only when it has one
        # Read again: botocore changes some of what it loaded while making a client.
        data = botocore.loaders.JSONFileLoader().load_file(file_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(marshal.dumps(_plain(data)))
        written.append(target)
    return written


if __name__ == "__main__":
    files = write()
    size = sum(path.stat().st_size for path in files)
    print(f"botocore data cache: {len(files)} files, {size / 1e6:.1f} MB in {cache_dir()}")
