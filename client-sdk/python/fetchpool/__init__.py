"""fetchpool: the Python client of the fetchpool HTTP connection-pool service.

    import fetchpool
    with fetchpool.Client("127.0.0.1:50051") as client:
        response = client.get("http://example.com/")

fetchpool.aio.Client is the asyncio twin. The generated messages are in
fetchpool.v1.fetchpool_pb2 (FetchRequest, FetchResponse, ...), also
re-exported here.
"""
from ._client import Client, StatsWatch
from ._errors import FetchpoolError
from ._pool_key import pool_key
from ._stream import FetchStream, FetchStreamClosed
from .v1.fetchpool_pb2 import (FetchRequest, FetchResponse, Header, StatsRequest, StatsResponse,
                               WatchStatsRequest)

__all__ = ["Client", "FetchRequest", "FetchResponse", "FetchStream", "FetchStreamClosed", "FetchpoolError",
           "Header", "StatsRequest", "StatsResponse", "StatsWatch", "WatchStatsRequest", "pool_key"]
