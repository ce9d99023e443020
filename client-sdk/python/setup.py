"""Generates the gRPC stubs from proto/fetchpool/v1/fetchpool.proto at build time.

The proto lives at the repository root (two levels up), shared with the
server and the other SDKs; FETCHPOOL_PROTO_DIR points elsewhere if needed.
protoc runs with the proto root as include path, so the generated modules
land in fetchpool/v1/ and import each other as `fetchpool.v1.fetchpool_pb2`,
which is this package's own subpackage: no import rewriting is needed.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_FILE = "fetchpool/v1/fetchpool.proto"


def _proto_root():
    root = os.environ.get("FETCHPOOL_PROTO_DIR") or os.path.join(HERE, "..", "..", "proto")
    if not os.path.exists(os.path.join(root, PROTO_FILE)):
        raise RuntimeError(f"cannot find {PROTO_FILE} under {root}: set FETCHPOOL_PROTO_DIR")
    return os.path.abspath(root)


def generate_stubs(out_dir):
    import grpc_tools
    from grpc_tools import protoc

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    root = _proto_root()
    args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}",
            f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
            f"--pyi_out={out_dir}", os.path.join(root, PROTO_FILE)]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on " + PROTO_FILE)


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(self.build_lib)
        if self.editable_mode:
            generate_stubs(HERE)


setup(cmdclass={"build_py": BuildPyWithStubs})
