"""The row contract (``wethink_verl.rows``): its doctests, and that the shapes it names are the
ones ``prepare``, the verl / EasyR1 adapters and ``wethink-verl score`` really produce and read."""

from __future__ import annotations

import doctest
import json

import pytest

from wethink_verl import rows
from wethink_verl.data.prepare import iter_records, verl_arrow_schema
from wethink_verl.data.schema import RowBuilder, RowOptions, easyr1_row, verl_row
from wethink_verl.data.synthetic import write_synthetic_wethink


def test_doctests():
    result = doctest.testmod(rows)
    assert result.failed == 0 and result.attempted >= 6


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """CleanRows of a generated WeThink set, built the way ``prepare`` builds them."""
    records, root = write_synthetic_wethink(tmp_path_factory.mktemp("rows"), 6, seed=4)
    raw = list(iter_records(records))
    assert all(set(r.record) == set(rows.RECORD_FIELDS) for r in raw)
    opts = RowOptions(image_root=root)
    builder = RowBuilder(opts)
    return [builder.build(r.record, r.index) for r in raw], opts


def test_the_verl_row_carries_the_extra_info_fields_its_parquet_schema_names(built):
    clean, opts = built
    schema = verl_arrow_schema()
    assert [f.name for f in schema.field("extra_info").type] == list(rows.VERL_EXTRA_INFO_FIELDS)
    for row in clean:
        out = verl_row(row, opts, "train")
        assert tuple(out["extra_info"]) == rows.VERL_EXTRA_INFO_FIELDS
        assert out["reward_model"]["style"] in (rows.STYLE_RULE, rows.STYLE_MODEL)


def test_verl_easyr1_and_score_lines_become_the_same_sample(built):
    """One row, three framings (verl's call, EasyR1's packed answer, a score input line): the
    sample the scorer gets routes and grades the same."""
    clean, opts = built
    for row in clean:
        verl = verl_row(row, opts, "train")
        response = "<think>t</think><answer>x</answer>"
        from_verl = rows.sample_from_row(response, verl["reward_model"]["ground_truth"], verl["extra_info"], "wethink")
        from_easyr1 = rows.sample_from_row(response, easyr1_row(row, opts)["answer"], None, "wethink")
        line = {"response": response, "answer": row.answer, "category": row.category, "reward": row.reward, "problem": row.problem}
        from_line, warning = rows.sample_from_score_line(json.loads(json.dumps(line)))
        assert warning is None
        for sample in (from_verl, from_easyr1, from_line):
            assert set(sample) <= set(rows.SAMPLE_FIELDS)
            assert (sample["ground_truth"], sample["category"], sample["reward"], sample["problem"]) == (
                row.answer, row.category, row.reward, row.problem)  # fmt: skip
        assert from_verl["image"] == from_easyr1["image"] == row.image_paths[0]


@pytest.mark.parametrize(
    "value, want",
    [(None, {}), ({}, {}), (0, {}), ({"rel_tol": 0.1}, {"rel_tol": 0.1}), ('{"rel_tol": 0.1}', {"rel_tol": 0.1})],
)
def test_verifier_kwargs_are_read_one_way(value, want):
    assert rows.read_verifier_kwargs(value) == want
    assert rows.sample_from_row("r", "g", {"verifier_kwargs": value}).get("verifier_kwargs", {}) == want


@pytest.mark.parametrize("value", ["A,B", "{not json", 5, ["rel_tol"]])
def test_unusable_verifier_kwargs(value):
    """A score line with them is that line's error; a verl row keeps them for the scorer to report."""
    with pytest.raises(ValueError, match="verifier_kwargs"):
        rows.sample_from_score_line({"response": "r", "answer": "g", "verifier_kwargs": value})
    assert rows.sample_from_row("r", "g", {"verifier_kwargs": value})["verifier_kwargs"] == value


def test_routing_values_match_the_router():
    from wethink_verl.reward.config import DEFAULTS
    from wethink_verl.reward.router import normalize_routing

    values = rows.routing_values()
    table = normalize_routing(DEFAULTS["routing"])
    assert values.categories == set(table["category"]) and values.rewards == set(table["reward"])
    assert values.judged_rewards == {k for k, v in table["reward"].items() if v == "judge"}
    assert rows.routing_key(" Multiple_Choice ") == rows.routing_key("multiple-choice") == "multiple choice"
