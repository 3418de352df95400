"""Reading an untrusted HDF5 file (Keras weights): libhdf5's errors on a damaged file become
one DefinitionError naming the file. (A file libhdf5 cannot finish reading is refused before
this, by the forked probe in _h5_probe.)"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import DefinitionError, SeqcError


@contextlib.contextmanager
def reading_h5(file: str) -> Any:
    """libhdf5's errors on a damaged file become one DefinitionError naming the file. h5py
    raises OSError or RuntimeError for damaged data or metadata, and KeyError ("Unable to
    ... open object (bad object header ...)") for a damaged link; seqc's own errors, and a
    KeyError that is not h5py's, pass through unchanged."""
    try:
        yield
    except SeqcError:
        raise
    except (OSError, RuntimeError, KeyError) as e:
        text = str(e.args[0]) if e.args else type(e).__name__
        if isinstance(e, KeyError) and not text.startswith("Unable to"):
            raise
        raise DefinitionError(
            "the HDF5 file is damaged: libhdf5 cannot read it", file=file, field="path",
            received=f"{type(e).__name__}: {text[:200]}",
            hint="save the model again; a file cut short or altered in transfer cannot be "
                 "read") from None
