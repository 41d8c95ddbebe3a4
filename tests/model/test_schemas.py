"""The canonical schemas round-trip through Parquet and the store unchanged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from p4pkit.model.schemas import TABLES, empty_table
from p4pkit.store import Store


def _one_row(name: str) -> pa.Table:
    """A one-row table of the canonical schema with a plausible value in every column."""
    samples = {
        pa.string(): "x",
        pa.date32(): dt.date(2024, 1, 2),
        pa.timestamp("us"): dt.datetime(2024, 1, 2, 10, 30),
        pa.float64(): 1.5,
        pa.int8(): 3,
        pa.int32(): 7,
        pa.bool_(): True,
        pa.decimal128(18, 2): Decimal("12.34"),
    }
    schema = TABLES[name].schema
    return pa.table({f.name: pa.array([samples[f.type]], f.type) for f in schema}, schema=schema)


def test_every_table_round_trips_through_parquet(tmp_path):
    for name in TABLES:
        table = _one_row(name)
        pq.write_table(table, tmp_path / f"{name}.parquet")
        back = pq.read_table(tmp_path / f"{name}.parquet")
        assert back.schema.equals(table.schema), name
        assert back.equals(table), name


def test_every_table_round_trips_through_the_store():
    with Store() as store:
        store.replace_tables({name: _one_row(name) for name in TABLES})
        for name in TABLES:
            back = store.arrow(name)
            assert back.schema.equals(TABLES[name].schema), name
            assert back.to_pylist() == _one_row(name).to_pylist(), name


def test_money_keeps_cents_exactly():
    with Store() as store:
        table = _one_row("claim_lines")
        store.replace_tables({"claim_lines": table})
        assert store.arrow("claim_lines").column("allowed_amount").to_pylist() == [Decimal("12.34")]


def test_empty_table_has_schema_and_no_rows():
    table = empty_table("events")
    assert table.num_rows == 0
    assert table.schema.equals(TABLES["events"].schema)


def test_foreign_keys_point_at_tables_loaded_earlier():
    order = list(TABLES)
    for name, spec in TABLES.items():
        for fk in spec.foreign_keys:
            assert fk.target_column in TABLES[fk.table].schema.names
            assert order.index(fk.table) <= order.index(name), (name, fk)


def test_conform_fills_optional_columns_and_orders_them():
    from p4pkit.model.schemas import conform

    table = conform("organizations", {"kind": ["practice"], "organization_id": ["P1"], "name": ["Practice 1"]})
    assert table.schema.equals(TABLES["organizations"].schema)
    assert table.to_pylist() == [
        {"organization_id": "P1", "name": "Practice 1", "kind": "practice", "parent_id": None, "national_id": None, "region": None}
    ]


def test_conform_refuses_missing_required_and_unknown_columns():
    import pytest

    from p4pkit.model.schemas import conform

    with pytest.raises(KeyError, match="required column 'name'"):
        conform("organizations", {"organization_id": ["P1"], "kind": ["practice"]})
    with pytest.raises(KeyError, match="not canonical"):
        conform("organizations", {"organization_id": ["P1"], "name": ["n"], "kind": ["practice"], "colour": ["red"]})
