"""``python -m bench.rasa_parse``: the texts it sends and the figures it prints."""

from __future__ import annotations

from pathlib import Path

from bench.rasa_parse import HELDOUT, percentile, texts


def test_it_sends_the_held_out_texts_as_people_type_them(tmp_path: Path) -> None:
    data = tmp_path / "nlu.yml"
    data.write_text('version: "3.1"\nnlu:\n- intent: file_complaint\n  examples: |\n'
                    "    - [ਸੜਕ](complaint_type) ਟੁੱਟੀ ਹੈ\n"
                    '    - light broken near [rajpur]{"entity": "locality"}\n'
                    "- intent: greet\n  examples: |\n    - hello\n", encoding="utf-8")
    assert texts(data) == ["ਸੜਕ ਟੁੱਟੀ ਹੈ", "light broken near rajpur", "hello"]
    held_out = texts(HELDOUT)
    assert len(held_out) >= 300 and not any("](" in text for text in held_out)


def test_percentiles_are_of_the_measured_times() -> None:
    times = [float(n) for n in range(1, 101)]
    assert (percentile(times, 0.5), percentile(times, 0.99), percentile(times, 1.0)) == (
        51.0, 99.0, 100.0)
