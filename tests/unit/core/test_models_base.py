"""The models' base (mcn_core.models.base): validation, its errors, and how they read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_core.models.base import FieldProblems, Model, ValidationError, aware, every_problem, problem
from mcn_core.models.errors import describe_validation_error
from mcn_core.models.events import MissedCallEvent


class Leaf(Model):
    size: Annotated[int, msgspec.Meta(ge=1)]
    label: str = "x"

    def __post_init__(self) -> None:
        if self.label == "bad":
            raise ValueError("label must not be 'bad'")


class Tree(Model):
    name: str = "tree"  # a defaulted field before a required one: fields are keyword-only in subclasses
    leaves: dict[str, Leaf]
    listed: list[Leaf] = msgspec.field(default_factory=list)
    optional: dict[str, Leaf] | None = None


class Lenient(Model, forbid_unknown_fields=False):
    count: int = 0
    on: bool = False


def _problem(model: Any, data: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.from_data(data)
    return problem(caught.value, model, data)


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        ({"leaves": {"ok": {"size": 1}, "oak": {"size": 0}}}, "leaves.oak.size", ">= 1"),
        ({"leaves": {"ok": {"size": 1}, "elm": {}}}, "leaves.elm.size", "Field required"),
        ({"leaves": {"ok": {"size": 1, "colour": "green"}}}, "leaves.ok.colour", "unknown field"),
        ({"leaves": {}, "listed": [{"size": 1}, {"size": 2, "label": "bad"}]}, "listed.1", "label must not be 'bad'"),
        ({"leaves": {}, "optional": {"fir": {"size": "many"}}}, "optional.fir.size", "Expected `int`"),
        ({}, "leaves", "Field required"),
        ({"leaves": {}, "extra": 1}, "extra", "unknown field"),
    ],
)
def test_a_problem_names_the_field_and_the_key_of_a_mapping(data: dict[str, Any], where: str, what: str) -> None:
    found_where, found_what = _problem(Tree, data)
    assert found_where == where
    assert what in found_what


def test_without_the_data_a_mapping_key_stays_unnamed() -> None:
    with pytest.raises(ValidationError) as caught:
        Tree.from_data({"leaves": {"oak": {"size": 0}}})
    assert problem(caught.value) == ("leaves.[...].size", "Expected `int` >= 1")


def test_input_is_read_leniently_as_the_wire_and_the_environment_give_it() -> None:
    assert Lenient.from_data({"count": "5", "on": "true", "unknown": 1}) == Lenient(count=5, on=True)


def test_timestamps_need_an_offset_and_a_utc_instant() -> None:
    event = {"call_ref": "r", "subscriber": "1", "msc": "m", "call_time": "2026-11-29T10:00:00"}
    assert _problem(MissedCallEvent, event) == (
        "call_time",
        "timestamp must carry a UTC offset (e.g. 2026-11-29T10:15:00Z)",
    )
    # a model's own check names its field (FieldProblems), as a constraint's error does
    assert _problem(MissedCallEvent, event | {"call_time": "0001-01-01T00:00:00+14:00"}) == (
        "call_time",
        "timestamp out of range",
    )
    with pytest.raises(FieldProblems, match="t: timestamp must carry a UTC offset"):
        aware(datetime(2026, 11, 29), "t")
    aware(datetime(2026, 11, 29, tzinfo=UTC), "t")


def test_the_error_sentence_names_the_field_or_the_whole_object() -> None:
    with pytest.raises(ValidationError) as caught:
        MissedCallEvent.from_data({"call_ref": "r", "subscriber": "1", "msc": "m", "call_time": 5.5e300})
    assert describe_validation_error(caught.value).startswith("call_time: ")
    with pytest.raises(ValidationError) as caught:
        Leaf.from_data({"size": 1, "label": "bad"})
    assert describe_validation_error(caught.value, root="leaf") == "leaf: label must not be 'bad'"


def test_models_round_trip_through_their_json_ready_form() -> None:
    tree = Tree(leaves={"a": Leaf(size=2)}, listed=[Leaf(size=3, label="y")])
    assert Tree.from_data(tree.to_data()) == tree
    assert msgspec.json.decode(tree.to_json()) == tree.to_data()
    assert tree.replace(name="other").name == "other" and tree.name == "tree"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
FIELDS = st.sampled_from(["leaves", "listed", "optional", "name", "size", "label", "oak", "0", ""])


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(FIELDS, JSON | st.dictionaries(FIELDS, JSON | st.dictionaries(FIELDS, JSON), max_size=3)))
def test_any_json_either_validates_or_gets_a_located_problem(data: dict[str, Any]) -> None:
    try:
        Tree.from_data(data)
    except ValidationError as exc:
        where, what = problem(exc, Tree, data)
        assert what
        # the path only names what is in the data or the model, so a reader can find it
        known = {field.name for field in msgspec.structs.fields(Tree)} | set(data) | {""}
        assert where.split(".")[0] in known


def test_every_problem_is_listed_where_validation_stops_at_the_first() -> None:
    data = {"leaves": {"oak": {"size": 0}, "elm": {"size": 1, "label": "bad"}}, "listed": [{}], "colour": "red"}
    assert sorted(every_problem(Tree, data)) == [
        ("colour", "unknown field"),
        ("leaves.elm", "label must not be 'bad'"),
        ("leaves.oak.size", "Expected `int` >= 1"),
        ("listed.0.size", "Field required"),
    ]
    assert every_problem(Tree, {"leaves": {}}) == []
