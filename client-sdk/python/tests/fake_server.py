"""An in-process FetchPool with scripted answers, to test the client's own
behaviour (retries, metadata, the stream wrapper) without fetchpoold."""
import queue
import threading
from concurrent import futures

import grpc

from fetchpool.v1 import fetchpool_pb2 as pb
from fetchpool.v1 import fetchpool_pb2_grpc as pb_grpc


class ScriptedFetchPool(pb_grpc.FetchPoolServicer):
    """Fetch fails with script entries (code, reason) in order, then answers
    200. FetchStream answers each request at once, except URLs containing
    /hold (answered when `release` is set), /fail (a FetchError) and /break
    (the whole call fails UNAVAILABLE)."""

    def __init__(self):
        self.script = []
        self.calls = 0
        self.metadata = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def Fetch(self, request, context):
        with self.lock:
            self.calls += 1
            self.metadata.append(dict(context.invocation_metadata()))
            step = self.script.pop(0) if self.script else None
        if step is not None:
            code, reason = step
            if reason:
                context.set_trailing_metadata((("fetchpool-reason", reason),))
            context.abort(code, f"{reason or code.name}: scripted failure")
        if "/slow" in request.url:
            self.release.wait(5)
        return pb.FetchResponse(status=200, pool="fake", body=request.body, id=request.id)

    def Stats(self, request, context):
        return pb.StatsResponse(pool_count=1, pools=[pb.HostPoolStats(host=request.host or "http://a:80")])

    def FetchStream(self, request_iterator, context):
        answers = queue.Queue()

        def answer_when_released(request):
            self.release.wait(10)
            answers.put(pb.FetchResponse(status=200, id=request.id, body=request.body))

        def read():
            holders = []
            for request in request_iterator:
                if "/break" in request.url:
                    answers.put("break")
                    return
                if "/hold" in request.url:
                    holders.append(threading.Thread(target=answer_when_released, args=(request,)))
                    holders[-1].start()
                elif "/fail" in request.url:
                    answers.put(pb.FetchResponse(id=request.id, error=pb.FetchError(
                        code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0], reason="WAIT_TIMEOUT",
                        message="scripted")))
                else:
                    answers.put(pb.FetchResponse(status=200, id=request.id, body=request.body))
            for holder in holders:
                holder.join()
            answers.put(None)

        threading.Thread(target=read, daemon=True).start()
        while True:
            answer = answers.get()
            if answer is None:
                return
            if answer == "break":
                context.abort(grpc.StatusCode.UNAVAILABLE, "scripted break")
            yield answer


class FakeServer:
    def __init__(self):
        self.servicer = ScriptedFetchPool()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_FetchPoolServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.target = f"127.0.0.1:{self.port}"

    def stop(self):
        self.server.stop(0)
