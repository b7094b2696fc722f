"""The public Python API: load a space, inspect it, compile it, search it, train its result.

This module sits on top of every stage and no stage imports it; the CLI is a thin layer over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from dasdsl.errors import DasError, error
from dasdsl.lang import checked as _check
from dasdsl.lang.count import count_architectures
from dasdsl.lang.load import check_file, check_text


@attrs.frozen
class Space(_check.CheckedSpace):
    """A checked space with the pipeline's verbs: ``count``, ``graph``, ``supernet``, ``network``, ``render``,
    ``search``. Shapes and classes come from the arguments, else the space's ``input`` line and its data."""

    @classmethod
    def of(cls, checked: _check.CheckedSpace) -> Space:
        return checked if isinstance(checked, Space) else cls(**attrs.asdict(checked, recurse=False))

    def count(self) -> int:
        """The exact number of distinct discrete architectures."""
        return count_architectures(self)

    def graph(self, input_shape: tuple[int, ...] | None = None, classes: int | None = None, data: Any = None) -> Any:
        """The IR (``dasdsl.compiler.ir.NetworkIR``) for data of ``input_shape`` and ``classes``."""
        from dasdsl.search.data import ir_for  # data sources pull numpy and scikit-learn: not on `dasdsl check`

        return ir_for(self, input_shape, classes, data)

    def supernet(self, input_shape: tuple[int, ...] | None = None, classes: int | None = None, **gate: Any) -> Any:
        """A torch supernet: every choice mixed under a gate (``gate=``, ``temperature=``, ``hard=``)."""
        from dasdsl.compiler.lower import Supernet  # torch: not imported by `dasdsl check`

        return Supernet(self.graph(input_shape, classes), **gate)

    def network(self, input_shape: tuple[int, ...] | None = None, classes: int | None = None) -> Any:
        """A plain torch network; only for a space with no choices left."""
        from dasdsl.compiler.lower import FixedNetwork  # torch: not imported by `dasdsl check`

        ir = self.graph(input_shape, classes)
        if ir.has_choices:
            first = next(iter(ir.choices.values()))
            raise DasError(
                [
                    error(
                        f"space '{self.name}' still has {len(ir.choices)} "
                        f"choice point{'' if len(ir.choices) == 1 else 's'} "
                        f"(first: {first.key}); "
                        "a fixed network needs one op per edge",
                        self.module.space.span,
                        "search it with 'dasdsl run', or build space.supernet(...)",
                    )
                ]
            )
        return FixedNetwork(ir)

    def _repr_svg_(self) -> str | None:
        """The cells as one SVG (Jupyter shows a space as its picture); None without graphviz's dot."""
        from dasdsl.view.render import space_svg  # graphviz: only when a picture is asked for

        return space_svg(self)


def loads(text: str, file: str = "<string>", plugins: Sequence[str] = ()) -> Space:
    """Parse and check .das text (after importing the plugin modules named)."""
    return Space.of(check_text(text, file, plugins))


def load(path: str | Path, plugins: Sequence[str] = ()) -> Space:
    """Parse and check a .das file: the entry point of the Python API."""
    return Space.of(check_file(path, plugins))
