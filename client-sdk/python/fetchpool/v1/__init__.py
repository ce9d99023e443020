"""Generated gRPC stubs for fetchpool.v1 (fetchpool_pb2, fetchpool_pb2_grpc), made at build time."""
