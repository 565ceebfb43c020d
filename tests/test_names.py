"""Intent display names: the deployment's file, the fallbacks, and bad files."""

from __future__ import annotations

import pytest

from dashboard import names


@pytest.fixture
def intents_file(tmp_path, monkeypatch):
    """A deployment's own intents file (the cache forgets the previous one)."""
    path = tmp_path / "intents.yml"
    monkeypatch.setenv("EASYFLOW_INTENTS_FILE", str(path))
    names._load.cache_clear()
    yield path
    names._load.cache_clear()


def test_the_shipped_file_names_every_demo_intent_in_both_languages():
    from data_access.demo import INTENTS

    names._load.cache_clear()
    shipped = names.parse(names.DEFAULT_FILE.read_text(encoding="utf-8"))
    assert set(shipped) == set(INTENTS) and all(set(entry) == {"en", "ru"} for entry in shipped.values())
    assert names.intent("order_status", "ru") == "Статус заказа" and names.intent("order_status", "en") == "Order status"


def test_a_deployments_own_names_and_the_fallbacks(intents_file):
    intents_file.write_text("billing_q: {en: Billing question, ru: Вопрос по счёту}\nvip: {en: VIP line}\n",
                            encoding="utf-8")
    assert names.intent("billing_q", "ru") == "Вопрос по счёту"
    assert names.intent("vip", "ru") == "VIP line"                 # no Russian name: the English one
    assert names.intent("lost_parcel", "en") == "Lost parcel"      # not named: the code in words
    assert names.intent("unknown", "ru") == "неизвестно"           # the queries' placeholder, translated
    hostile = "[Re-login](https://evil.example)"
    assert names.intent(hostile, "en") == hostile                  # not a code: as it is (escaped where shown)


@pytest.mark.parametrize("text, problem", [
    ("- a\n- b\n", "expected a mapping"),
    ("a: {en: A, de: B}\n", "expected {en: …, ru: …}"),
    ("a: {en: ''}\n", "the en name must be text"),
    ("a: [\n", "not YAML"),
])
def test_a_bad_file_is_refused_and_the_codes_stand_in(intents_file, text, problem):
    with pytest.raises(names.NamesError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        names.parse(text)
    intents_file.write_text(text, encoding="utf-8")
    assert names.intent("a_b", "ru") == "A b"


def test_frames_show_names_and_keep_other_columns():
    import pandas as pd

    frame = pd.DataFrame({"intent": ["refund", None], "expected_intent": ["pricing", "refund"], "n": [1, 2]})
    shown = names.with_intent_names(frame, "ru")
    assert shown["intent"].iloc[0] == "Возврат денег" and pd.isna(shown["intent"].iloc[1])
    assert list(shown["expected_intent"]) == ["Цены", "Возврат денег"] and list(shown["n"]) == [1, 2]
