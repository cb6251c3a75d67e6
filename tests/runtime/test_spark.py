"""The session factory's settings, on the test run's real local session."""

from __future__ import annotations

from lakehouse.runtime.spark import COMMON_CONF, apply_conf


def test_apply_conf_puts_hadoop_keys_on_the_hadoop_configuration(spark):
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        apply_conf(spark, {"spark.hadoop.lakehouse.test.setting": "on",
                           "spark.sql.shuffle.partitions": "3"})
        assert hadoop.get("lakehouse.test.setting") == "on"
        assert spark.conf.get("spark.hadoop.lakehouse.test.setting", None) is None
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        hadoop.unset("lakehouse.test.setting")
        spark.conf.set("spark.sql.shuffle.partitions", partitions)


def test_a_local_session_has_every_hadoop_setting(spark):
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in COMMON_CONF.items():
        if key.startswith("spark.hadoop."):
            assert hadoop.get(key.removeprefix("spark.hadoop.")) == value, key
