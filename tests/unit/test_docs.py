"""The README's configuration table is the one the settings model generates."""

from stackctl import docs


def test_readme_config_table_matches_the_model():
    text = docs.README.read_text()
    assert docs.START in text and docs.END in text
    assert docs.render_readme(text) == text, "run `make golden` (it regenerates the README table)"


def test_every_settings_key_is_in_the_table():
    table = docs.table()
    for key, *_ in docs.rows():
        assert f"| `{key}` |" in table
    assert "| `llm:vllm.maxModelLen` |" in table and "| `llm:apiKey` | secret string |" in table
