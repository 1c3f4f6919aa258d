"""A model's predictions for a block of rows, and the XGBoost container's encodings of them.

Encodings (as the container writes them, [XGB:encoder.py]):
- `text/csv`: one line per row; a multi-output row (e.g. `multi:softprob`) comma-joined.
- `application/json`: `{"predictions":[{"score":0.43},…]}`; a multi-output score is a list.
- `application/jsonlines`: one `{"score":…}` per line.
- with `SAGEMAKER_BATCH` set: CSV lines, each ended by a newline, whatever the Accept.

Numbers are the shortest text that reads back to the same float32 (`0.43`, not `0.4300000071525574`).
Small outputs are joined in Python, big ones with Arrow's string kernels; both give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from homeport.runtime.content import CSV, JSON, JSONLINES, SMALL_OUTPUT, format_large, format_small

_JSON_SPECIALS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # what Python's json writes


@dataclass(frozen=True, slots=True)
class Scores:
    values: np.ndarray  # (rows,) or (rows, outputs)

    def __len__(self) -> int:
        return len(self.values)

    def rows(self, start: int, stop: int) -> Scores:
        return Scores(self.values[start:stop])

    def encode(self, media: str, batch: bool = False) -> bytes:
        if batch or media == CSV:
            body = _join(self._row_texts(json=False), "", "", "\n")
            return body + b"\n" if batch and len(self) else body
        rows = self._row_texts(json=True)
        if media == JSON:
            return b'{"predictions":[' + _join(rows, '{"score":', "}", ",") + b"]}"
        if media == JSONLINES:
            return _join(rows, '{"score":', "}", "\n")
        raise ValueError(f"Scores cannot be encoded as {media}")

    def _row_texts(self, json: bool) -> list[str] | Any:
        """One text per row: a multi-output row's values comma-joined (in brackets for JSON)."""
        values = self.values
        width = 1 if values.ndim == 1 else int(np.prod(values.shape[1:]))
        brackets = json and values.ndim > 1
        specials = json and values.dtype.kind == "f" and not bool(np.isfinite(values).all())
        if values.size <= SMALL_OUTPUT:
            texts = format_small(values)
            if specials:
                texts = [_JSON_SPECIALS.get(t, t) for t in texts]
            if width == 1 and not brackets:
                return texts
            rows = [",".join(texts[i : i + width]) for i in range(0, len(texts), width)]
            return [f"[{row}]" for row in rows] if brackets else rows
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow_texts = format_large(values)
        if specials:
            arrow_texts = pa.array([_JSON_SPECIALS.get(t, t) for t in arrow_texts.to_pylist()], pa.string())
        if width == 1 and not brackets:
            return arrow_texts
        offsets = pa.array(np.arange(0, values.size + 1, width, dtype=np.int32))
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, arrow_texts), ",")
        return pc.binary_join_element_wise("[", joined, "]", "") if brackets else joined


def _join(rows: list[str] | Any, prefix: str, suffix: str, sep: str) -> bytes:
    """`sep`.join(prefix + row + suffix for each row), for a Python list or (when big) an Arrow array."""
    if isinstance(rows, list):
        if not prefix and not suffix:
            return sep.join(rows).encode()
        return sep.join([f"{prefix}{row}{suffix}" for row in rows]).encode()
    import pyarrow as pa
    import pyarrow.compute as pc

    if prefix or suffix:
        rows = pc.binary_join_element_wise(prefix, rows, suffix, "")
    offsets = pa.array(np.array([0, len(rows)], dtype=np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, rows), sep)[0]
    return bytes(joined.as_buffer())
