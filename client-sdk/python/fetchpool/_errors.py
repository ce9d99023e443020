"""FetchpoolError: a failed call's gRPC code, fetchpool reason and message."""
import grpc

REASON_KEY = "fetchpool-reason"
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class FetchpoolError(Exception):
    """A call that failed. `reason` is the `fetchpool-reason` trailer, ""
    when there is none (then the failure was in the transport, not in
    fetchpool). An upstream HTTP status is never an error."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str):
        super().__init__(f"{code.name}" + (f" [{reason}]" if reason else "") + f": {message}")
        self.code = code
        self.reason = reason
        self.message = message

    def __reduce__(self):  # pickles (to another process) with all three fields
        return FetchpoolError, (self.code, self.reason, self.message)


def reason_of_metadata(metadata) -> str:
    for key, value in metadata or ():
        if key == REASON_KEY:
            return value.decode() if isinstance(value, bytes) else value
    return ""


def from_rpc_error(error: grpc.RpcError, trailing_metadata=None) -> FetchpoolError:
    """From a sync RpcError (a grpc.Call too) or an aio AioRpcError."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    if trailing_metadata is None and callable(getattr(error, "trailing_metadata", None)):
        trailing_metadata = error.trailing_metadata()
    return FetchpoolError(code or grpc.StatusCode.UNKNOWN, reason_of_metadata(trailing_metadata), details or "")


def from_fetch_error(error) -> FetchpoolError:
    """From FetchResponse.error (a FetchStream answer)."""
    code = _CODES_BY_NUMBER.get(error.code, grpc.StatusCode.UNKNOWN)
    return FetchpoolError(code, error.reason, error.message)
