"""Writing and reading a trained model file: the router's only I/O.

The file is a joblib dump of a plain dictionary: a header (format, format
version, scikit-learn version, metadata) and the fitted pipeline pickled
separately as bytes. Reading checks the header before unpickling the
pipeline, so a file from another format version or scikit-learn release fails
with a message that says to retrain, instead of an obscure unpickling error or
a model that silently predicts nonsense.

A model file is a pickle: load only files this gateway's own training wrote.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import sklearn  # type: ignore[import-untyped]

from router.errors import ModelFileError

FORMAT = "ticket-gateway/router-model"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ModelFile:
    """What a model file holds besides its header fields."""

    pipeline: Any
    metadata: dict[str, Any]


def write_model(path: str | Path, model: ModelFile) -> None:
    """Write atomically (temporary file, then rename) so a reader never sees half a model."""
    target = Path(path)
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer)
    content = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sklearn_version": sklearn.__version__,
        "metadata": dict(model.metadata),
        "pipeline": buffer.getvalue(),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(content, temporary, compress=3)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_model(path: str | Path) -> ModelFile:
    """Read a model file; raises `ModelFileError` saying why it cannot be used."""
    source = Path(path)
    if not source.is_file():
        raise ModelFileError(f"{source}: no such model file")
    try:
        content = joblib.load(source)
    except Exception as exc:
        raise ModelFileError(f"{source}: not a router model file ({exc.__class__.__name__})") from exc
    _check_header(content, source)
    try:
        pipeline = joblib.load(io.BytesIO(content["pipeline"]))
    except Exception as exc:
        raise ModelFileError(f"{source}: the model cannot be read ({exc}); retrain it") from exc
    return ModelFile(pipeline=pipeline, metadata=dict(content.get("metadata") or {}))


def _check_header(content: Any, source: Path) -> None:
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a router model file")
    version = content.get("version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{source}: model format version {version}, this gateway reads version {FORMAT_VERSION}; retrain the model"
        )
    if not isinstance(content.get("pipeline"), bytes):
        raise ModelFileError(f"{source}: not a router model file (no pipeline)")
    trained_with = str(content.get("sklearn_version", "unknown"))
    if _release(trained_with) != _release(sklearn.__version__):
        raise ModelFileError(
            f"{source}: trained with scikit-learn {trained_with}, this gateway has {sklearn.__version__};"
            " retrain the model"
        )


def _release(version: str) -> tuple[str, ...]:
    """Major and minor: scikit-learn keeps pickles compatible only within a release."""
    return tuple(version.split(".")[:2])
