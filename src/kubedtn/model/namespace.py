"""The Kubernetes namespace of an object, pod or link end that names none.

One definition for the whole program. A module of its own, free of imports, because the
CNI fast path needs it and importing ``kubedtn.model.names`` (re, functools) costs that
path more than the rest of its imports together.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see kubedtn.cni.versions)
if TYPE_CHECKING:
    from typing import Final

DEFAULT_NAMESPACE: Final = "default"
