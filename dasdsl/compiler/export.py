"""Export a fixed network as plain PyTorch: a self-contained Python module, TorchScript, ONNX.

The Python module is generated from the built ``FixedNetwork`` itself, module by module, so that its
parameter and buffer names are exactly those of dasdsl's network (``model.pt`` of ``dasdsl train``
loads into it without renaming): one class per cell with its edges written out, the few helper
modules dasdsl defines (``Zero``, ``FactorizedReduce``, ``ResBlock``, ``GlobalAvgPool``: the classes of
``dasdsl.ops.modules`` with ``export_values``) copied from their source as plain torch, and torch's own
modules with every argument spelled out. It imports only torch and is written to be compiled by
``torch.jit.script``, which is how the TorchScript export is made; the ONNX export traces the same module.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import keyword
import re
import tempfile
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.ir import NetworkIR
from dasdsl.compiler.lower import CellModule, Chain, FixedNetwork, PluginGuard
from dasdsl.errors import DasError, fail
from dasdsl.files import write_atomic
from dasdsl.lang.load import check_text, for_training
from dasdsl.ops import modules as ops_modules
from dasdsl.wording import shape_text

try:
    import onnx  # the optional extra (pip install dasdsl[onnx]): only --format onnx needs it
except ImportError:  # pragma: no cover - depends on the machine
    onnx = None


def helper_source(cls: type[nn.Module], children: tuple[str, ...]) -> str:
    """The class ``cls`` of dasdsl.ops.modules as the exported file writes it, from its own source, so that a
    change there reaches the file: the first paragraph of its docstring, a constructor that takes its
    ``export_values`` and its ``children`` (built modules: the file spells out torch's modules in place of
    dasdsl's builders and fast convolutions) and stores them, and its ``forward`` as written (plain torch)."""
    doc = " ".join((inspect.getdoc(cls) or cls.__name__).split("\n\n")[0].split())
    signature = inspect.signature(cls.__init__).parameters
    values: tuple[str, ...] = cls.export_values  # type: ignore[assignment]
    params = [f"{v}: {_annotation(signature[v].annotation)}" for v in values]
    params += [f"{c}: nn.Module" for c in children]
    lines = [f"class {cls.__name__}(nn.Module):", f'    """{doc}"""', ""]
    if params:
        lines += [f"    def __init__(self, {', '.join(params)}) -> None:", "        super().__init__()"]
        lines += [f"        self.{name} = {name}" for name in (*values, *children)]
        lines.append("")
    forward = textwrap.indent(textwrap.dedent(inspect.getsource(cls.forward)), "    ")
    return "\n".join(lines) + "\n" + forward


def _annotation(hint: Any) -> str:
    """A constructor parameter's annotation as source text (a string under ``from __future__ import annotations``)."""
    return hint if isinstance(hint, str) else getattr(hint, "__name__", repr(hint))


def _helper_class(m: nn.Module) -> type[nn.Module] | None:
    """The class of ``m`` if the exported file copies it from dasdsl.ops.modules (it declares ``export_values``)."""
    cls = type(m)
    if cls.__module__ == ops_modules.__name__ and "export_values" in vars(cls):
        return cls
    return None


def _conv(m: Any) -> str:
    return (
        f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}, padding={m.padding}, "
        f"dilation={m.dilation}, groups={m.groups}, bias={m.bias is not None}"
    )


def _bn(m: Any) -> str:
    return (
        f"{m.num_features}, eps={m.eps}, momentum={m.momentum}, affine={m.affine}, "
        f"track_running_stats={m.track_running_stats}"
    )


def _avg_pool(m: Any) -> str:
    return (
        f"{m.kernel_size}, stride={m.stride}, padding={m.padding}, ceil_mode={m.ceil_mode}, "
        f"count_include_pad={m.count_include_pad}"
    )


def _max_pool(m: Any) -> str:
    return f"{m.kernel_size}, stride={m.stride}, padding={m.padding}, dilation={m.dilation}, ceil_mode={m.ceil_mode}"


# torch modules by their base class, with every constructor argument spelled out (dasdsl's Conv2d is a
# subclass of nn.Conv2d with the same parameters: it is written as nn.Conv2d)
TORCH_ARGS: tuple[tuple[type[nn.Module], Callable[[Any], str]], ...] = (
    (nn.Conv1d, _conv),
    (nn.Conv2d, _conv),
    (nn.BatchNorm1d, _bn),
    (nn.BatchNorm2d, _bn),
    (nn.AvgPool1d, _avg_pool),
    (nn.AvgPool2d, _avg_pool),
    (nn.MaxPool1d, _max_pool),
    (nn.MaxPool2d, _max_pool),
    (nn.Linear, lambda m: f"{m.in_features}, {m.out_features}, bias={m.bias is not None}"),
    (nn.ReLU, lambda _: ""),
    (nn.ReLU6, lambda _: ""),
    (nn.Tanh, lambda _: ""),
    (nn.Identity, lambda _: ""),
    (nn.GELU, lambda m: f"approximate={m.approximate!r}"),
    (nn.Flatten, lambda m: f"{m.start_dim}, {m.end_dim}"),
    (nn.Dropout, lambda m: f"{m.p}"),
)


def _identifier(name: str, prefix: str) -> str:
    """A Python name for a node or input of the space (dots and other characters replaced)."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit() or keyword.iskeyword(text):
        text = f"{prefix}{text}"
    return text


class _Writer:
    """Turns the modules of a built network into constructor expressions and cell classes."""

    def __init__(self) -> None:
        self.helpers: dict[type[nn.Module], tuple[str, ...]] = {}  # copied class -> its children's names
        self.cells: dict[str, str] = {}  # cell key -> its class name
        self.classes: list[str] = []
        self.cell_count: dict[str, int] = {}

    def expr(self, m: nn.Module, indent: int = 0) -> str:
        pad = "    " * (indent + 1)
        if isinstance(m, PluginGuard):
            raise fail(
                f"plugin op '{m.step.name}' cannot be exported as plain PyTorch: its module is the plugin's own code",
                "<export>",
                "export the network with dasdsl installed (torchscript or onnx) or replace the plugin op",
            )
        if isinstance(m, CellModule):
            return f"{self.cell_class(m)}()"
        for base, args in TORCH_ARGS:
            if isinstance(m, base):
                return f"nn.{base.__name__}({args(m)})"
        helper = _helper_class(m)
        if helper is not None:
            return self.helper_expr(helper, m, indent)
        if type(m) in (nn.Sequential, Chain):
            items = [f"{pad}{self.expr(sub, indent + 1)}," for sub in m]
            return "nn.Sequential(\n" + "\n".join(items) + f"\n{'    ' * indent})"
        raise fail(f"cannot export a module of type {type(m).__name__} as plain PyTorch", "<export>")

    def helper_expr(self, cls: type[nn.Module], m: nn.Module, indent: int) -> str:
        """``m`` as a call of its copied class: its ``export_values`` in order, then its children by name."""
        children = tuple(name for name, _ in m.named_children())
        if self.helpers.setdefault(cls, children) != children:  # the copy's constructor takes one set
            raise AssertionError(f"{cls.__name__} instances differ in their child modules: cannot export")
        values = [repr(getattr(m, v)) for v in cls.export_values]  # type: ignore[attr-defined]
        if not children:
            return f"{cls.__name__}({', '.join(values)})"
        pad = "    " * (indent + 1)
        args = [f"{pad}{v}," for v in values]
        args += [f"{pad}{child}={self.expr(sub, indent + 1)}," for child, sub in m.named_children()]
        return f"{cls.__name__}(\n" + "\n".join(args) + f"\n{'    ' * indent})"

    def helper_sources(self) -> list[str]:
        """The classes copied from dasdsl.ops.modules that the expressions so far call, in their source's order."""
        used = [c for c in vars(ops_modules).values() if isinstance(c, type) and c in self.helpers]
        return [helper_source(c, self.helpers[c]) for c in used]

    def cell_class(self, cell: CellModule) -> str:
        """The class of one cell instance, its edges written out; instances with the same code share it."""
        if cell.key in self.cells:  # one class per cell type and input shapes (the IR's cell key)
            return self.cells[cell.key]
        base = "Cell" + "".join(p.capitalize() for p in re.split(r"\W+", cell.key.split("(")[0]) if p)
        self.cell_count[base] = self.cell_count.get(base, 0) + 1
        name = f"{base}{self.cell_count[base]}"
        self.cells[cell.key] = name
        inputs = [_identifier(n, "in_") for n in cell.inputs]
        var = {n: v for n, v in zip(cell.inputs, inputs)}
        for node, _, _ in cell.plan:
            var[node] = _identifier(node, "node_")
        pre = [f"            {self.expr(p, 3)}," for p in cell.preprocess]
        edges = [f"                {name_!r}: {self.expr(m, 4)}," for name_, m in cell.edges.items()]
        args = ["x"] if cell.single_input else inputs
        body = []
        for i, n in enumerate(inputs):
            source = "x" if cell.single_input else n
            body.append(f"        {n} = self.preprocess[{i}]({source})")
        for node, merge, incoming in cell.plan:
            terms = [f'self.edges["{edge}"]({var[src]})' for src, edge in incoming]
            body.append(f"        {var[node]} = {_merged(merge, terms)}")
        body.append(f"        return {_merged(cell.output_merge, [var[n] for n in cell.output])}")
        params = ", ".join(f"{a}: torch.Tensor" for a in args)
        text = (
            f"class {name}(nn.Module):\n"
            f'    """Cell `{cell.key.split("@")[0]}` on inputs {cell.key.split("@")[1]}."""\n\n'
            "    def __init__(self) -> None:\n"
            "        super().__init__()\n"
            "        self.preprocess = nn.ModuleList(\n            [\n"
            + "\n".join(pre)
            + "\n            ]\n        )\n"
            "        self.edges = nn.ModuleDict(\n            {\n" + "\n".join(edges) + "\n            }\n        )\n\n"
            f"    def forward(self, {params}) -> torch.Tensor:\n" + "\n".join(body) + "\n"
        )
        self.classes.append(text)
        return name


def _merged(how: str, terms: list[str]) -> str:
    if len(terms) == 1:
        return terms[0]
    if how == "concat":
        return f"torch.cat([{', '.join(terms)}], dim=1)"
    return " + ".join(terms)


def python_source(net: FixedNetwork, header: str) -> str:
    """A self-contained Python module defining ``Network``, equal to ``net`` and with its parameter names.
    ``header`` becomes the module's docstring (where the network came from)."""
    w = _Writer()
    items = [f"                {node!r}: {w.expr(m, 4)}," for node, m in net.items.items()]
    body = ["        o0 = x"]
    for k, (node, reads) in enumerate(net.plan, start=1):
        args = ", ".join(f"o{i}" for i in reads)
        body.append(f'        o{k} = self.items["{node}"]({args})')
    body.append(f"        return o{len(net.plan)}")
    network = (
        "class Network(nn.Module):\n"
        '    """The whole network: its blocks in order; each reads earlier outputs (o0 is the input)."""\n\n'
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        "        self.items = nn.ModuleDict(\n            {\n" + "\n".join(items) + "\n            }\n        )\n\n"
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n" + "\n".join(body) + "\n"
    )
    helpers = w.helper_sources()
    doc = '"""' + _docstring_text(header.strip()) + '\n"""'
    parts = [doc, "from __future__ import annotations\n\nimport torch\nfrom torch import nn", *helpers, *w.classes]
    parts.append(network)
    return "\n\n\n".join(p.rstrip() for p in parts) + "\n"


def _docstring_text(text: str) -> str:
    """``text`` as the body of a triple-quoted string literal that reads back as ``text``: backslashes (a Windows
    path), double quotes and characters a source file cannot hold escaped; line breaks kept."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ch == '"':
            out.append('\\"')
        elif ch == "\\" or not ch.isprintable():
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def import_python(path: Path) -> nn.Module:
    """An instance of ``Network`` from a generated file (imported from the file, so that TorchScript can read
    its source)."""
    spec = importlib.util.spec_from_file_location(f"dasdsl_export_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Network()


def torchscript(source: str, state: dict[str, torch.Tensor]) -> torch.jit.ScriptModule:
    """The generated module with ``state`` loaded, compiled by ``torch.jit.script`` (any input size)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.py"
        write_atomic(path, source, "temporary copy of the generated module")
        module = import_python(path)
        module.load_state_dict(state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.10+ deprecates TorchScript; asked for
            return torch.jit.script(module.eval())


def read_model(path: Path) -> dict[str, Any]:
    """``dasdsl train``'s model.pt (or a checkpoint, or a bare state dict), read as data: {"model": the state
    dict, and where the file records them "space", "input_shape", "classes" (else None)}, each checked."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise fail(f"no weights file {path}", "<export>", "give the model.pt that `dasdsl train` wrote") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is the user's to fix
        raise fail(f"cannot read weights {path}: {type(exc).__name__}: {exc}", "<export>") from None
    record = saved if isinstance(saved, dict) and isinstance(saved.get("model"), dict) else {"model": saved}
    state = record["model"]
    if isinstance(state, dict):  # DARTS' auxiliary head trains the network; the exported network is without it
        state = {k: v for k, v in state.items() if not (isinstance(k, str) and k.startswith("auxiliary."))}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise fail(f"{path} holds no state dict", "<export>", "give the model.pt that `dasdsl train` wrote")
    odd = next((k for k in state if not isinstance(k, str)), None)
    if odd is not None:
        raise fail(
            f"{path} holds no state dict: its key {odd!r} is a {type(odd).__name__}, not a parameter name",
            "<export>",
            "give the model.pt that `dasdsl train` wrote",
        )
    shape, classes, space = record.get("input_shape"), record.get("classes"), record.get("space")
    ok_shape = isinstance(shape, list) and shape and all(type(n) is int and n > 0 for n in shape)
    return {
        "model": state,
        "input_shape": tuple(shape) if ok_shape else None,
        "classes": classes if type(classes) is int and classes > 0 else None,
        "space": space if isinstance(space, str) else None,
    }


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``dasdsl train``'s model.pt (or a checkpoint holding one under "model"), read as data."""
    return read_model(path)["model"]


MAX_ACTIVATION = 2**28  # values of one sample in any tensor of the network (1 GiB as float32)


def check_size(ir: NetworkIR) -> None:
    """Refuse a network whose input or some tensor of its blocks holds more than ``MAX_ACTIVATION`` values per
    sample: building and running it would die in the allocator, not end in an error."""
    shapes = [("the input", tuple(ir.input_shape))] + [
        (f"the output of '{node}'", tuple(d.shape)) for node, d in ir.macro.nodes.items() if d.shape
    ]
    for what, shape in shapes:
        values = 1
        for n in shape:
            values *= int(n)
        if values > MAX_ACTIVATION:
            raise fail(
                f"{what} has shape {shape_text(shape)}: {values:,} values per sample, more than the "
                f"{MAX_ACTIVATION:,} an export handles",
                "<export>",
                "export for the input shape the network runs on (--input-shape, or the shape the space states)",
            )


def same_architecture(source: str, recorded: str, input_shape: tuple[int, ...], classes: int) -> bool | None:
    """Whether the space ``recorded`` in a model.pt builds the network whose generated Python is ``source``
    (compared as generated Python: formatting, comments and constants spelled otherwise do not count); None
    where the recorded space cannot be built here (a plugin op not loaded, a damaged record)."""
    try:
        trained = for_training(check_text(recorded, "model.pt"))  # as `dasdsl train` built it
        theirs = FixedNetwork(build_ir(trained, input_shape, classes))
    except DasError:
        return None
    return python_source(theirs.eval(), "") == source


def write(ir: NetworkIR, format: str, target: Path, origin: str, weights: Path | None) -> None:
    """Build the fixed network of ``ir``, load ``weights`` (else keep its fresh ones) and write ``target`` as
    ``python``, ``torchscript`` or ``onnx``; ``origin`` opens the generated module's docstring. Nothing is
    written when anything fails."""
    if format == "onnx" and onnx is None:
        raise fail(
            "exporting to ONNX needs the onnx package", "<export>", "install the extra: pip install 'dasdsl[onnx]'"
        )
    check_size(ir)
    net = FixedNetwork(ir)
    record = read_model(weights) if weights is not None else None
    state = net.state_dict() if record is None else record["model"]
    if record is not None and record["space"] is not None:
        same = same_architecture(python_source(net.eval(), ""), record["space"], ir.input_shape, ir.classes)
        if same is False:
            raise fail(
                f"the weights in {weights} were trained for another architecture: the space that {weights} "
                "records builds another network than the one exported (even where the tensor shapes agree)",
                "<export>",
                "export the .das (with the --let values) that the weights were trained with",
            )
    try:
        loaded = net.load_state_dict(state, strict=False)
        problem = "; ".join(
            f"{len(keys)} {what} (first: {', '.join(keys[:3])})"
            for what, keys in (("missing", loaded.missing_keys), ("unexpected", loaded.unexpected_keys))
            if keys
        )
    except RuntimeError as exc:  # a tensor of another shape: torch names it on the second line
        lines = str(exc).strip().splitlines()
        problem = " ".join(line.strip() for line in lines[1:3]) or lines[0]
    if problem:
        raise fail(
            f"the weights in {weights} do not fit this network: {problem}",
            "<export>",
            "export the .das (with the --let values) that the weights were trained with",
        )
    params = sum(p.numel() for p in net.parameters())
    shape = shape_text(ir.input_shape)
    header = (
        f"{origin}.\n\n"
        f"Input {shape}, {ir.classes} classes, {params:,} parameters. Plain PyTorch: this file imports only torch.\n"
        "Its parameter names are dasdsl's, so the weights `dasdsl train` writes load as they are:\n\n"
        "    net = Network()\n"
        '    net.load_state_dict(torch.load("model.pt", weights_only=True)["model"])\n'
        "    net.eval()\n"
    )
    source = python_source(net.eval(), header)
    if format == "python":
        write_atomic(target, source, "export file")
        return
    scripted = torchscript(source, state)
    buffer = io.BytesIO()  # torch's writers abort the process on a full disk: they write here, dasdsl writes the file
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(scripted, buffer)
        write_atomic(target, buffer.getvalue(), "export file")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(
            scripted,
            (torch.randn(2, *ir.input_shape),),
            buffer,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    write_atomic(target, buffer.getvalue(), "export file")
