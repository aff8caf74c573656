"""The API server double and kubectl, as fixtures for these tests.

The tests cite the section of the Kubernetes "API Conventions" document they check:
https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md
"""

from tests.support.kubeapi.fixture import kubeapi, kubectl

__all__ = ["kubeapi", "kubectl"]
