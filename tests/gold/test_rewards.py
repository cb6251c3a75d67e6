"""Reward points: the rules file and the points each transaction earns."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality

from lakehouse.errors import ConfigError
from lakehouse.gold.rewards import RULES_SCHEMA, load_rules, with_reward_points
from tests.gold.silver_frames import money, reward_rules, transactions

REPO_RULES = Path(__file__).resolve().parents[2] / "conf" / "reference" / "reward_rules.csv"
HEADER = "category,points_per_unit,valid_from,valid_to\n"


@pytest.fixture(scope="module")
def repo_rules(spark):
    return load_rules(spark, REPO_RULES).cache()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reward_rules.csv"
    path.write_text(text, encoding="utf-8")
    return path


def points(spark, rules, *rows):
    """(trans_id, reward_points) for the given transactions."""
    return (transactions(spark, *rows).transform(with_reward_points(rules))
            .select("trans_id", "reward_points"))


def expected_points(spark, *rows):
    return spark.createDataFrame(list(rows), "trans_id string, reward_points long")


def test_load_rules_reads_the_repository_file(spark, repo_rules):
    expected = reward_rules(
        spark,
        ("entertainment", "2.0", "2019-01-01", None),
        ("food_dining", "3.0", "2019-01-01", "2023-12-31"),
        ("food_dining", "4.0", "2024-01-01", None),
        ("gas_transport", "2.0", "2019-01-01", None),
        ("grocery_pos", "1.5", "2019-01-01", None),
        ("grocery_net", "1.5", "2019-01-01", None),
        ("travel", "5.0", "2019-01-01", None),
        ("shopping_net", "1.0", "2019-01-01", None),
        ("shopping_pos", "1.0", "2019-01-01", None),
    )
    assert_df_equality(repo_rules, expected, ignore_row_order=True)


def test_load_rules_reads_a_file_given_by_path(spark, tmp_path):
    path = write(tmp_path, HEADER + " travel ,2.25,2020-01-01,2020-12-31\nhome,0.5,2021-02-03,\n")
    expected = reward_rules(spark, ("travel", "2.25", "2020-01-01", "2020-12-31"),
                            ("home", "0.5", "2021-02-03", None))
    result = load_rules(spark, path)
    assert result.schema == RULES_SCHEMA
    assert_df_equality(result, expected, ignore_row_order=True)


@pytest.mark.parametrize("rules", [
    # an open-ended rule followed by a newer one for the same category
    "food_dining,3.0,2019-01-01,\nfood_dining,4.0,2024-01-01,\n",
    # validity dates are inclusive: ending on the day the next one starts is an overlap
    "food_dining,3.0,2019-01-01,2024-01-01\nfood_dining,4.0,2024-01-01,\n",
    # a rule nested inside another, listed first
    "food_dining,4.0,2021-01-01,2021-06-30\ntravel,5.0,2019-01-01,\n"
    "food_dining,3.0,2019-01-01,2023-12-31\n",
], ids=["open_ended", "shared_boundary_day", "nested"])
def test_overlapping_rules_for_a_category_are_a_config_error_naming_it(spark, tmp_path, rules):
    with pytest.raises(ConfigError, match="food_dining"):
        load_rules(spark, write(tmp_path, HEADER + rules))


@pytest.mark.parametrize("text", [
    "category,points_per_unit,valid_from\ntravel,5.0,2019-01-01\n",
    HEADER + "travel,5.0,2019-13-01,\n",
    HEADER + "travel,five,2019-01-01,\n",
    HEADER + "travel,5.0,2019-01-01,someday\n",
], ids=["missing_column", "bad_date", "bad_rate", "bad_valid_to"])
def test_malformed_rules_file_is_a_config_error(spark, tmp_path, text):
    with pytest.raises(ConfigError, match="reward rule"):
        load_rules(spark, write(tmp_path, text))


def test_missing_rules_file_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError):
        load_rules(spark, tmp_path / "absent.csv")


def test_row_with_too_few_fields_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError):
        load_rules(spark, write(tmp_path, HEADER + "travel,5.0\n"))


def test_empty_rules_file_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError):
        load_rules(spark, write(tmp_path, ""))


def test_rule_ending_before_it_starts_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError):
        load_rules(spark, write(tmp_path, HEADER + "travel,5.0,2024-01-01,2023-01-01\n"))


def test_rate_too_large_for_the_rules_schema_is_a_config_error(spark, tmp_path):
    with pytest.raises(ConfigError):
        load_rules(spark, write(tmp_path, HEADER + "travel,123456.0,2019-01-01,\n"))


def test_rate_with_more_decimals_than_the_schema_is_not_silently_rounded(spark, tmp_path):
    path = write(tmp_path, HEADER + "travel,1.555,2019-01-01,\n")
    try:
        rates = [r.points_per_unit for r in load_rules(spark, path).collect()]
    except ConfigError:
        return  # rejecting the file is fine too
    assert rates == [money("1.555")]


def test_points_use_the_rate_valid_on_the_transaction_day(spark, repo_rules):
    # food_dining earns 3.0 until 2023-12-31 and 4.0 from 2024-01-01 (UTC days)
    result = points(spark, repo_rules,
                    {"trans_id": "dec31", "category": "food_dining", "amount": "10.99",
                     "trans_ts": "2023-12-31 23:59:59"},
                    {"trans_id": "jan01", "category": "food_dining", "amount": "10.99",
                     "trans_ts": "2024-01-01 00:00:00"})
    # floor, not round: 32.97 -> 32 and 43.96 -> 43
    assert_df_equality(result, expected_points(spark, ("dec31", 32), ("jan01", 43)),
                       ignore_row_order=True, ignore_nullable=True)


def test_points_are_floored_exactly_on_decimal_amounts(spark):
    rules = reward_rules(spark, ("grocery_pos", "1.5", "2019-01-01", None))
    result = points(spark, rules,
                    {"trans_id": "a", "amount": "0.66"},     # 0.99
                    {"trans_id": "b", "amount": "6.67"},     # 10.005
                    {"trans_id": "c", "amount": "1000.00"})  # 1500.00
    assert_df_equality(result, expected_points(spark, ("a", 0), ("b", 10), ("c", 1500)),
                       ignore_row_order=True, ignore_nullable=True)


def test_category_without_a_valid_rule_earns_nothing(spark, repo_rules):
    result = points(spark, repo_rules,
                    {"trans_id": "no_rule", "category": "health_fitness", "amount": "80.00"},
                    {"trans_id": "before_rule", "category": "travel", "amount": "80.00",
                     "trans_ts": "2018-12-31 23:59:59"},
                    {"trans_id": "with_rule", "category": "travel", "amount": "80.00"})
    assert_df_equality(result, expected_points(spark, ("no_rule", 0), ("before_rule", 0),
                                               ("with_rule", 400)),
                       ignore_row_order=True, ignore_nullable=True)


def test_fraudulent_transaction_earns_nothing(spark, repo_rules):
    result = points(spark, repo_rules,
                    {"trans_id": "fraud", "category": "travel", "amount": "100.00",
                     "is_fraud": True},
                    {"trans_id": "genuine", "category": "travel", "amount": "100.00"})
    assert_df_equality(result, expected_points(spark, ("fraud", 0), ("genuine", 500)),
                       ignore_row_order=True, ignore_nullable=True)


def test_reward_join_keeps_every_transaction_once_with_its_columns(spark, repo_rules):
    rows = [{"trans_id": f"t{i}", "category": category, "trans_ts": stamp}
            for i, (category, stamp) in enumerate([
                ("food_dining", "2023-12-31 12:00:00"), ("food_dining", "2024-01-01 12:00:00"),
                ("food_dining", "2024-01-01 12:00:00"), ("travel", "2024-01-02 00:00:00"),
                ("home", "2024-01-02 00:00:00"), ("grocery_pos", "2024-01-03 00:00:00")])]
    tx = transactions(spark, *rows)
    result = tx.transform(with_reward_points(repo_rules))
    assert result.columns == [*tx.columns, "reward_points"]
    assert sorted(r.trans_id for r in result.select("trans_id").collect()) == \
        [f"t{i}" for i in range(6)]

