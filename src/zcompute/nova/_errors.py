"""zcompute's errors as Nova's exceptions: the one place where they are mapped.

Nova's compute manager reacts to its own exception types (an unknown instance is
InstanceNotFound, a refused image ImageUnacceptable); every other zcompute error reaches Nova
as an InternalError carrying zcompute's one-line message, which Nova records as the
instance's fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nova import exception

from zcompute.errors import ImageError, InvalidInput, InvalidState, NotFound, ZcomputeError

__all__ = ["nova_errors"]


@contextlib.contextmanager
def nova_errors(uuid: str, *, image_id: str | None = None) -> Iterator[None]:
    """Raise zcompute's errors in the block as Nova's, for instance ``uuid``."""
    try:
        yield
    except NotFound as err:
        if err.kind in ("instance", "domain"):
            raise exception.InstanceNotFound(instance_id=uuid) from err
        raise exception.InternalError(str(err)) from err
    except ImageError as err:
        raise exception.ImageUnacceptable(image_id=image_id or "?", reason=str(err)) from err
    except InvalidInput as err:
        raise exception.InvalidInput(reason=str(err)) from err
    except InvalidState as err:
        raise exception.InstanceInvalidState(
            instance_uuid=uuid, attr="zcompute state", state=str(err), method="this operation"
        ) from err
    except ZcomputeError as err:
        raise exception.InternalError(str(err)) from err
