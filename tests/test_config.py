"""Configuration: the repository's own files load, and mistakes give one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lakehouse.config import DEFAULT_CONF_DIR, load_settings, load_source
from lakehouse.errors import ConfigError


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, target)
    return target


def test_repository_configuration_loads():
    settings = load_settings(environ={})
    assert set(settings.sources) == {"transactions", "customers", "loans"}
    tx = settings.sources["transactions"]
    assert tx.field_pii("card_number") == "pan"
    assert tx.field_pii("birth_date") == "birth_date"
    assert tx.natural_key == ("trans_id",)


def test_precedence_env_file_then_variables_then_arguments(conf):
    (conf / "env" / "staging.yaml").write_text("lake_root: /from/env-file\nspark:\n  "
                                               "shuffle_partitions: 8\n")
    settings = load_settings(conf, environ={"LAKEHOUSE_ENV": "staging"})
    assert (settings.lake_root, settings.spark.shuffle_partitions) == ("/from/env-file", 8)
    assert settings.spark.master == "local[2]", "an overlay changes only what it names"
    settings = load_settings(conf, environ={"LAKEHOUSE_ENV": "staging",
                                            "LAKEHOUSE_LAKE": "/from/variable"})
    assert settings.lake_root == "/from/variable"
    settings = load_settings(conf, environ={"LAKEHOUSE_LAKE": "/from/variable"},
                             lake_root="/from/argument")
    assert settings.lake_root == "/from/argument"


def test_settings_are_frozen():
    settings = load_settings(environ={})
    with pytest.raises(Exception, match="frozen"):
        settings.lake_root = "elsewhere"  # type: ignore[misc]


def test_invalid_yaml_names_file_and_line(conf):
    path = conf / "sources" / "loans.yaml"
    path.write_text("name: loans\nentity: [unclosed\n")
    with pytest.raises(ConfigError, match=r"loans\.yaml line \d+: invalid YAML"):
        load_settings(conf, environ={})


@pytest.mark.parametrize(("change", "message"), [
    (("type: string}", "type: strnig}"), "unknown type 'strnig'"),
    (("from: trans_num,", "from: trans_number,"), "reads \\['trans_number'\\] which the "
                                                   "layout does not list"),
    (("natural_key: [trans_id]", "natural_key: [nope]"), "natural_key names unknown fields"),
    (("  - merchant\n", "  - merchant\n  - merchant\n"), "layout lists a column twice"),
    (('delimiter: ","', 'delimiter: ";;"'), "csv.delimiter: must be one character, got ';;'"),
    (("quote: '\"'", "quote: ''"), "csv.quote: must be one character, got ''"),
])
def test_source_mistakes_are_one_line_errors(conf, change, message):
    path = conf / "sources" / "transactions.yaml"
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError, match=message) as caught:
        load_source(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_silver_never_takes_names_or_contact_data(conf):
    path = conf / "sources" / "customers.yaml"
    text = path.read_text().replace("  job:           {from: job,",
                                    "  email:         {from: email, type: string}\n"
                                    "  job:           {from: job,")
    path.write_text(text)
    with pytest.raises(ConfigError, match="field 'email' reads contact data, which Silver never "
                                          "keeps"):
        load_source(path)


def test_sensitive_authentication_data_cannot_be_mapped(conf):
    path = conf / "sources" / "transactions.yaml"
    text = path.read_text().replace("  - is_fraud\n", "  - is_fraud\n  - {name: cvv, pii: "
                                    "sensitive_auth}\n")
    text = text.replace("fields:\n", "fields:\n  cvv: {from: cvv, type: string}\n")
    path.write_text(text)
    with pytest.raises(ConfigError, match="sensitive_auth data, which Silver never keeps"):
        load_source(path)
    # declared but not mapped: allowed, and not even Bronze stores it
    path.write_text(text.replace("  cvv: {from: cvv, type: string}\n", ""))
    source = load_source(path)
    assert "cvv" in [c.name for c in source.layout]
    assert "cvv" not in [c.name for c in source.stored_layout]


def test_missing_configuration_folder(tmp_path):
    with pytest.raises(ConfigError, match="configuration folder not found"):
        load_settings(tmp_path / "nope", environ={})
