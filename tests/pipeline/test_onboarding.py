"""Onboarding a new layout of a known source takes a YAML file, not code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config import DEFAULT_CONF_DIR, load_settings
from lakehouse.io.delta import delta_io
from lakehouse.io.lake import Lake, TableId
from lakehouse.pii.card import luhn_check_digit
from lakehouse.pii.columns import pan_hits
from lakehouse.pipeline.bronze_to_silver import bronze_to_silver

pytestmark = pytest.mark.integration

ACME_YAML = """
# A partner bank's extract: semicolons, its own column names, date and time apart, local time.
name: acme_cards
entity: transactions
format: csv
encoding: latin-1
csv: {delimiter: ";", header: true}
timezone: Europe/Berlin
natural_key: [trans_id]
layout:
  - txn_id
  - booking_date
  - booking_time
  - {name: card_no, pii: pan}
  - {name: holder_name, pii: name}
  - {name: ssn, pii: identifier}
  - {name: acct_num, pii: identifier}
  - {name: cvv, pii: sensitive_auth}
  - shop
  - mcc_group
  - value
  - fraud_flag
fields:
  trans_id:    {from: txn_id, type: string, lower: true}
  trans_ts:    {from: [booking_date, booking_time], type: timestamp,
                formats: ["dd.MM.yyyy HH:mm"]}
  card_number: {from: card_no, type: string}
  merchant:    {from: shop, type: string}
  category:    {from: mcc_group, type: string, lower: true, reference: merchant_categories,
                reason: unknown_category}
  amount:      {from: value, type: "decimal(12,2)", min: 0.01, max: 100000,
                reason: amount_out_of_range}
  is_fraud:    {from: fraud_flag, type: boolean}
"""


def pan(prefix: str) -> str:
    body = prefix.ljust(15, "7")
    return body + luhn_check_digit(body)


def test_new_layout_needs_only_yaml(spark, tmp_path: Path):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    for other in ("transactions", "customers", "loans"):
        (conf / "sources" / f"{other}.yaml").unlink()
    (conf / "sources" / "acme_cards.yaml").write_text(ACME_YAML)
    settings_file = conf / "lakehouse.yaml"
    # a partner's small file may reject more than the default share (a per-source limit)
    settings_file.write_text(settings_file.read_text().replace(
        "    default: 0.10", "    default: 0.10\n    acme_cards: 0.50"))
    landing = tmp_path / "landing" / "acme_cards" / "2024" / "03"
    landing.mkdir(parents=True)
    card = pan("4000")
    lines = [
        "txn_id;booking_date;booking_time;card_no;holder_name;ssn;acct_num;cvv;shop;mcc_group;"
        "value;fraud_flag",
        f"A1;31.03.2024;01:30;{card};Jörg Müller;123-45-6789;DE001;123;Café Nord;"
        "food_dining;12.50;0",
        f"A2;31.03.2024;23:15;{card};Jörg Müller;123-45-6789;DE001;456;Shop;travel;99.00;yes",
        f"A3;31.03.2024;23:15;{card[:-1]}0;Jörg Müller;123-45-6789;DE001;789;Shop;travel;5;0",
    ]
    (landing / "export.csv").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    settings = load_settings(conf, lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    report = bronze_to_silver(settings, spark=spark)
    assert [f.outcome for f in report.files] == ["loaded"]

    delta = delta_io(spark, Lake.at(settings.lake_root))
    silver = delta.read(TableId("silver", "transactions")).orderBy("trans_id").collect()
    assert [r.trans_id for r in silver] == ["a1", "a2"]
    # 01:30 and 23:15 Berlin summer time (UTC+2 from 31 March 02:00) in UTC
    assert [r.trans_ts.strftime("%Y-%m-%d %H:%M") for r in silver] == [
        "2024-03-31 00:30", "2024-03-31 21:15"]
    assert silver[0].merchant == "Café Nord", "latin-1 text decoded"
    assert [r.is_fraud for r in silver] == [False, True]
    assert silver[0].card_masked == "*" * 12 + card[-4:]
    assert silver[0].city is None, "fields the layout lacks are null"
    assert {r.source for r in silver} == {"acme_cards"}

    quarantine = delta.read(TableId("silver", "transactions_quarantine")).collect()
    assert [(q.natural_key, q.reasons) for q in quarantine] == [
        ("trans_id=a3", ["invalid_card_number"])]
    assert "123-45-6789" not in quarantine[0].raw and "<identifier>" in quarantine[0].raw

    bronze = delta.read(TableId("bronze", "acme_cards"))
    assert "cvv" not in bronze.columns, "sensitive authentication data is never stored"
    for name in ("silver.transactions", "silver.transactions_quarantine", "ops.ingested_files"):
        df = delta.read(TableId.parse(name))
        text = df.select(F.to_json(F.struct(*df.columns)).alias("j")).collect()
        assert not any("123-45-6789" in r.j or "Müller" in r.j for r in text), name
        assert pan_hits(df) == {}, name


def test_a_new_layout_beside_the_shipped_one_feeds_the_same_silver_table(spark, tmp_path: Path):
    """Two sources of one entity with different fields (the partner's lacks the city, the
    coordinates, ...): a run with files of both publishes them as one batch, the missing fields
    null; a run with files of the partner's alone is gated on its own fields only."""
    from lakehouse.generate import generate

    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    (conf / "sources" / "acme_cards.yaml").write_text(ACME_YAML)
    generate(tmp_path / "generated", customers=3, months=1, seed=5, defect_rate=0.0)
    shipped = sorted((tmp_path / "generated" / "transactions").rglob("*.csv"))[0]
    (tmp_path / "landing" / "transactions").mkdir(parents=True)
    shutil.copy2(shipped, tmp_path / "landing" / "transactions" / shipped.name)
    acme = tmp_path / "landing" / "acme_cards"
    acme.mkdir()
    header = ("txn_id;booking_date;booking_time;card_no;holder_name;ssn;acct_num;cvv;shop;"
              "mcc_group;value;fraud_flag")

    def export(name: str, ids: list[str]) -> None:
        lines = [header] + [f"{i};31.03.2024;10:00;{pan('4000')};A B;1;2;3;Shop;travel;5.00;0"
                            for i in ids]
        (acme / name).write_bytes(("\n".join(lines) + "\n").encode("latin-1"))

    export("first.csv", ["B1", "B2"])
    settings = load_settings(conf, lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    first = bronze_to_silver(settings, spark=spark)
    assert not first.blocked, [g.summary() for g in first.gates]
    assert {(f.source, f.outcome) for f in first.files} == {("transactions", "loaded"),
                                                             ("acme_cards", "loaded")}
    delta = delta_io(spark, Lake.at(settings.lake_root))
    silver = delta.read(TableId("silver", "transactions"))
    shipped_rows = len(shipped.read_text().splitlines()) - 1
    assert silver.where("source = 'transactions' AND city IS NOT NULL").count() == shipped_rows
    assert sorted(r.trans_id for r in silver.where("source = 'acme_cards' AND city IS NULL")
                  .collect()) == ["b1", "b2"]

    export("second.csv", ["B3"])
    second = bronze_to_silver(settings, spark=spark)
    assert not second.blocked, [f.describe() for g in second.gates for f in g.failures]
    assert [(f.path, f.outcome) for f in second.files] == [("acme_cards/second.csv", "loaded")]
    assert delta.read(TableId("silver", "transactions")).count() == shipped_rows + 3
