"""A small client of the Kubernetes CRI (``runtime.v1``), for driving a real runtime as kubelet does.

``cri_runtime_v1.proto`` is our subset of the CRI's API (the pod sandbox calls, with the CRI's
own field numbers); ``hack/gen-cri-proto.sh`` generates ``cri_runtime_v1_pb2*.py`` from it,
committed as the project's own proto is (``tests/unit/cri`` checks they are current).
``client.CriClient`` wraps the generated stub.
"""
