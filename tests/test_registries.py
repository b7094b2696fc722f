"""Gates, penalties and discretization rules are each defined once (dasdsl.methods); everything else reads them."""

from __future__ import annotations

import math

import pytest
import torch

import dasdsl
from dasdsl.compiler.lower import gate_weights
from dasdsl.lang import settings
from dasdsl.methods import gates, penalties, rules
from dasdsl.methods.rules import NodeChoices, RuleInputs


def test_the_settings_table_takes_its_names_from_the_registries() -> None:
    assert tuple(gates.GATES) == settings.GATES
    assert tuple(penalties.PENALTIES) == settings.PENALTIES
    assert tuple(rules.RULES) == settings.DISCRETIZE
    table = settings.settings_table()
    for name in (*gates.GATES, *rules.RULES):
        assert f"`{name}" in table or name in table


@pytest.mark.parametrize("name", sorted(gates.GATES))
def test_every_gate_mixes_a_supernet(name: str, pooling: dasdsl.api.Space) -> None:
    torch.manual_seed(0)
    tempered = f"{name}(temperature = 0.5)" if gates.GATES[name].tempered else name  # .das text, as a search takes
    net = pooling.supernet((1, 8, 8), 10, gate=tempered)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    w = gate_weights(torch.tensor([0.0, math.log(3.0)]), name, 1.0)
    if name == "softmax":
        assert w.tolist() == pytest.approx([0.25, 0.75])
    elif name == "sigmoid":
        assert w.tolist() == pytest.approx([0.5, 0.75])
    else:  # a sample of the simplex
        assert float(w.sum()) == pytest.approx(1.0) and bool((w >= 0).all())


def test_penalty_terms() -> None:
    w = torch.tensor([0.5, 0.25, 0.25])
    assert float(penalties.PENALTIES["l1"].term(w)) == pytest.approx(1.0)
    assert float(penalties.PENALTIES["entropy"].term(w)) == pytest.approx(1.5 * math.log(2))
    assert float(penalties.PENALTIES["zero_one"].term(w)) == pytest.approx(-(0.0 + 2 * 0.0625) / 3)
    assert penalties.PENALTIES["cost"].term is None  # the searcher prices candidates with the cost model


def test_rules_on_plain_choices() -> None:
    node = NodeChoices(("a", "b", "c"), (("none", "skip", "conv"),) * 3, keep=2, beta=None)
    free = NodeChoices(("d",), (("none", "skip"),), keep=None)
    weights = {"a": [0.9, 0.05, 0.05], "b": [0.1, 0.2, 0.7], "c": [0.0, 0.6, 0.4], "d": [0.3, 0.4]}
    argmax = rules.RULES["argmax"].decide([node, free], weights, RuleInputs())
    # `none` never wins on a keep node: a's best real candidate (0.05) is the weakest edge, dropped
    assert argmax == {"a": None, "b": 2, "c": 1, "d": 1}
    assert rules.RULES["threshold"].decide([free], weights, RuleInputs(value=0.5)) == {"d": 0}  # 0.4 < 0.5: none

    # perturbation: the candidate whose removal costs most accuracy, here a made-up accuracy function
    def accuracy(w: dict[str, list[float]]) -> float:
        return w["d"][0] * 0.5 + w["d"][1] * 0.1

    assert rules.RULES["perturbation"].decide([free], weights, RuleInputs(accuracy=accuracy)) == {"d": 0}
    # without an accuracy function it ranks as argmax (per-epoch skip counts, renders)
    assert rules.RULES["perturbation"].decide([free], weights, RuleInputs()) == {"d": 1}
