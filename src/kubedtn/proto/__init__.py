"""The gRPC contract of the node daemon, generated from proto/v1/kube_dtn.proto.

Import the generated modules by their full path (regenerate with ``make proto``)::

    from kubedtn.proto.v1 import kube_dtn_pb2 as pb          # messages: pb.Pod, pb.Link, ...
    from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc  # LocalStub, LocalServicer,
                                                               # add_LocalServicer_to_server, Remote*

Importing them loads grpc and protobuf (~0.1 s): keep them out of the CNI VERSION path.
"""
