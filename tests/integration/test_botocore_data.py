"""The botocore data cache (store/botocore_data.py): the same data as botocore's JSON, read
faster; a client made with it works; without a cache of this botocore, botocore's JSON is read."""

import botocore.loaders
import pytest
from teamledger.store import botocore_data, client


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(botocore_data, "CACHE", tmp_path / "cache")
    return botocore_data.write()


def test_the_cache_holds_what_botocore_reads_from_its_json(cache):
    # Given the cache written for the layer's services
    assert cache, "nothing was cached"
    json_files = botocore.loaders.JSONFileLoader()
    for path in cache:
        # When a data file is read through the cache
        relative = path.relative_to(botocore_data.cache_dir()).as_posix()
        file_path = str(botocore_data.BUILTIN / relative.removesuffix(".marshal"))
        # Then it is what botocore's own loader reads from the JSON
        assert botocore_data.CachedDataFiles().load_file(file_path) == json_files.load_file(
            file_path), relative
    names = {path.name for path in cache}
    assert {"endpoints.marshal", "partitions.marshal", "service-2.marshal"} <= names


def test_a_client_made_with_the_cache_calls_dynamodb(cache, moto_endpoint):
    # Given a DynamoDB client made through the cache
    made = client._session().create_client("dynamodb", endpoint_url=moto_endpoint)
    # When it calls the table / Then it answers as any client does
    assert client.table_name() in made.list_tables()["TableNames"]


def test_a_cache_of_another_botocore_is_not_read(cache, monkeypatch):
    # Given a cache written for this botocore, then another botocore version in its place
    monkeypatch.setattr(botocore_data.botocore, "__version__", "0.0.0")
    recorded = []
    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file",
                        lambda self, path: recorded.append(path) or {"from": "json"})
    # When a data file is read / Then it comes from botocore's JSON
    endpoints = str(botocore_data.BUILTIN / "endpoints")
    assert botocore_data.CachedDataFiles().load_file(endpoints) == {"from": "json"}
    assert recorded == [endpoints]
