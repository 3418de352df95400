"""`seqc view MODEL`: the ONNX model in Netron (the `netron` package, the `view` extra),
served on localhost. Netron draws model.onnx itself: the exported graph, as onnxruntime runs it.

>>> url = serve("build/cancer_mlp", port=8080)   # doctest: +SKIP
>>> stop(url)                                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from .errors import UsageError

HOST = "localhost"


def _netron() -> Any:
    try:
        import netron
    except ImportError:
        raise UsageError("seqc view needs the netron package, which is not installed",
                         field="view", hint="install it with: pip install 'seqc[view]'") from None
    return netron


def model_file(model: str | Path) -> Path:
    """MODEL itself when it is an .onnx file, or the model.onnx of a build folder."""
    p = Path(model)
    if p.is_dir():
        p = p / "model.onnx"
        if not p.is_file():
            raise UsageError(f"{model}: the folder holds no model.onnx", field="MODEL",
                             hint="give a build folder (seqc build -o DIR) or an .onnx file")
    elif not p.is_file():
        raise UsageError(f"{model}: no such file or folder", field="MODEL")
    elif p.suffix.lower() != ".onnx":
        raise UsageError(f"{model}: seqc view shows ONNX models (.onnx or a build folder)",
                         field="MODEL", received=p.suffix or "no suffix",
                         hint="build or convert it first: seqc build DEF -o DIR; seqc view DIR")
    return p


def serve(model: str | Path, port: int | None = None, browse: bool = False) -> str:
    """Serve MODEL in Netron on localhost (port None: Netron's 8080, 8081 or a free one);
    returns the address. The server runs in a daemon thread until `stop` or exit."""
    path = model_file(model)
    netron = _netron()
    if port is not None:
        with socket.socket() as s:  # Netron would stop its own server on it, or hang on another's
            try:
                s.bind((HOST, port))
            except OSError as e:
                raise UsageError(f"port {port} on {HOST} is not free ({e.strerror})",
                                 field="--port", received=f"--port {port}",
                                 hint="leave --port out to take a free port") from None
    logging.getLogger("netron").setLevel(logging.WARNING)  # seqc prints the address itself
    host, bound = netron.start(str(path), address=(HOST, port), browse=browse)
    return f"http://{host}:{bound}"


def stop(url: str) -> None:
    """Stop the Netron server at `url` (an address `serve` returned)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    _netron().stop((host, int(port)))


def wait() -> None:
    """Block until Ctrl-C, then stop every Netron server of this process."""
    _netron().wait()
