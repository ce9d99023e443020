import pytest

from fetchpool import pool_key
from conftest import read_vectors

VECTORS = read_vectors("pool_keys.tsv")


def test_vectors_file_is_read():
    assert len(VECTORS) >= 27


@pytest.mark.parametrize("url,key", VECTORS)
def test_pool_key_matches_server(url, key):
    assert pool_key(url) == key


@pytest.mark.parametrize("url,key", [
    ("http://0177.0.0.1/", "http://127.0.0.1:80"),        # octal part
    ("http://0x7F000001:81/", "http://127.0.0.1:81"),     # one hex number
    ("http://10.1.2/", "http://10.1.0.2:80"),             # a.b.c: 8.8.16
    ("http://08/", "http://08:80"),                       # not a number: a name
    ("http://1.2.3.4.5/", "http://1.2.3.4.5:80"),         # five parts: a name
    ("http://[::ffff:7f00:1]/", "http://[::ffff:127.0.0.1]:80"),
    ("http://[::127.0.0.1]/", "http://[::127.0.0.1]:80"),  # inet_ntop keeps the dotted quad
    ("http://[::2]/", "http://[::2]:80"),
    ("http://[FE80::1%eth0]/", "http://[fe80::1%25eth0]:80"),
])
def test_pool_key_edge_forms(url, key):
    assert pool_key(url) == key


@pytest.mark.parametrize("url", [
    "ftp://example.com/", "example.com/x", "http://user:pw@example.com/", "http://example.com:0/",
    "http://example.com:65536/", "http://exa mple.com/", "http://[::1/", "http://[zz::1]/", "http:///x",
    "http://ex%41mple.com/",
])
def test_unparseable_urls_have_no_key(url):
    assert pool_key(url) is None
