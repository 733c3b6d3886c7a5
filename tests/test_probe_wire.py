"""What the probe writes and reads on its channel, without the json module: its events must
read back under the grader's json.loads exactly as they were, whatever the program printed or
sent, and its configuration must arrive whatever the path of the file."""
from __future__ import annotations

import importlib.util
import json
import math

from hypothesis import given, strategies as st

from conftest import ROOT


def _load_probe():
    spec = importlib.util.spec_from_file_location("probe_under_test", ROOT / "grader" / "running" / "probe" / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only: hooks are installed by main()
    return module


PROBE = _load_probe()

# What events hold: text (console output, latin-1 payloads, paths, messages; lone surrogates
# come from undecodable file names and arguments), numbers, booleans, None, and addresses.
text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=200)
scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                   st.floats(allow_nan=False), text)
value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4), max_leaves=10)


def _read_back(fields):
    return json.loads((PROBE._json(fields) + "\n").encode("utf-8", "surrogatepass"))


@given(st.dictionaries(text, value, max_size=8))
def test_events_read_back_as_written(fields):
    assert _read_back(fields) == fields


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_numbers_read_back_as_json_reads_them(number):
    back = _read_back({"t": number})["t"]
    assert (math.isnan(back) and math.isnan(number)) or back == number


def test_tuples_and_other_objects_are_written_as_json_would_or_as_text():
    assert _read_back({"address": ("::1", 8080, 0, 0)}) == {"address": ["::1", 8080, 0, 0]}
    assert _read_back({"odd": object.__new__(type("Odd", (), {"__str__": lambda self: "odd"}))}) == {"odd": "odd"}


def test_a_long_piece_of_console_text_stays_one_line():
    piece = ("Hello\tWorld\r\n\x00 ünïcödé ✓ \udc80" * 3000)[:PROBE._TEXT_PIECE]
    line = (PROBE._json({"kind": "stdout", "text": piece}) + "\n").encode("utf-8", "surrogatepass")
    assert line.count(b"\n") == 1 and json.loads(line)["text"] == piece


@given(st.dictionaries(st.sampled_from(["role", "display_path", "hold", "memory", "connect_host"]),
                       st.one_of(text, st.integers(), st.floats(allow_nan=False, allow_infinity=False))))
def test_the_configuration_arrives_whatever_it_holds(config):
    from grader.running.runner import ProgramRun

    sent = []
    run = ProgramRun(ROOT / "reference" / "server.py", on_event=lambda event: None)
    run._send = sent.append  # the line that would go down the control pipe
    run.configure(config)
    assert len(sent) == 1 and "\n" not in sent[0]
    arrived = PROBE._parse_config(sent[0])
    assert arrived.pop("key") == run.key  # the key the probe's event lines must carry
    assert arrived == {name: str(v) for name, v in config.items()}
