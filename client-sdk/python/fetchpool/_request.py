"""Building a FetchRequest from a message or from keyword arguments."""
import datetime
from typing import Any, Mapping

from google.protobuf import duration_pb2

from .v1 import fetchpool_pb2 as pb

_DURATION_FIELDS = ("wait_timeout", "request_timeout")


def build_request(request: Any = None, **fields: Any) -> pb.FetchRequest:
    """A FetchRequest from `request` (a FetchRequest, copied; or a URL
    string) and/or keyword fields: url, method, headers (a mapping or
    (name, value) pairs), body (bytes or str), wait_timeout and
    request_timeout (seconds or timedelta), and any other FetchRequest field."""
    if isinstance(request, pb.FetchRequest):
        message = pb.FetchRequest()
        message.CopyFrom(request)
    elif isinstance(request, str):
        message = pb.FetchRequest(url=request)
    elif request is None:
        message = pb.FetchRequest()
    else:
        raise TypeError(f"request must be a FetchRequest or a URL, not {type(request).__name__}")
    for name, value in fields.items():
        if value is None:
            continue
        if name == "headers":
            message.headers.extend(_headers(value))
        elif name == "body":
            message.body = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        elif name in _DURATION_FIELDS:
            getattr(message, name).CopyFrom(to_duration(value))
        else:
            setattr(message, name, value)
    if not message.url:
        raise ValueError("a fetch needs a url")
    return message


def _headers(value: Any):
    pairs = value.items() if isinstance(value, Mapping) else value
    for pair in pairs:
        if isinstance(pair, pb.Header):
            yield pair
        else:
            name, header_value = pair
            yield pb.Header(name=name, value=header_value)


def to_duration(value: Any) -> duration_pb2.Duration:
    if isinstance(value, duration_pb2.Duration):
        return value
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(round(seconds * 1e9)))
    return duration
