"""The stdlib reader for Gradescope's submission_metadata.yml."""
import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.batch.yaml_subset import parse

try:  # the test extras have it: an independent YAML emitter to check against
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

GRADESCOPE_EXPORT = """\
---
submission_104:
  :submitters:
  - :name: Jane O'Doe
    :sid: '00123'
    :email: jane@example.edu
  - :name: "Zo\\u00eb \\"Zed\\" Li"
    :sid: '00124'
  :created_at: 2024-02-01 12:00:00.000000000 -08:00
  :score: 7.0
  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess
    tests:
    - name: x
      output: |
        Traceback: line one
        key: not a key
    score: 3
  :status: processed
submission_205:   # a comment
  :submitters:
    - :name: 'A: B # not a comment'
  :history: []
"""


def test_reads_the_fields_gradescope_writes():
    data = parse(GRADESCOPE_EXPORT)
    assert set(data) == {"submission_104", "submission_205"}
    people = data["submission_104"][":submitters"]
    assert people[0] == {":name": "Jane O'Doe", ":sid": "00123", ":email": "jane@example.edu"}
    assert people[1] == {":name": 'Zoë "Zed" Li', ":sid": "00124"}
    assert data["submission_104"][":status"] == "processed"
    assert data["submission_205"][":submitters"] == [{":name": "A: B # not a comment"}]


def test_block_scalars_and_tags_do_not_leak_into_keys():
    data = parse(GRADESCOPE_EXPORT)
    results = data["submission_104"][":results"]
    assert "key" not in results and results["score"] == "3"


def test_odd_input_never_raises():
    for text in ["", "\n\n", "- a\n- b\n", "key", ":::\n  - - -\n", "a: [1, 2\nb: {x\n", "\t- x: 1"]:
        parse(text)  # must not raise


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


names = st.text(alphabet=string.ascii_letters + " '\":#-éøЖ中", min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(names, st.text(string.digits, max_size=8)), min_size=1, max_size=3),
                min_size=1, max_size=5))
def test_quoted_names_round_trip(groups):
    lines = []
    for i, group in enumerate(groups):
        lines.append(f"submission_{i}:")
        lines.append("  :submitters:")
        for name, sid in group:
            lines.append(f"  - :name: {_quote(name)}")
            lines.append(f"    :sid: {_quote(sid)}")
    data = parse("\n".join(lines) + "\n")
    for i, group in enumerate(groups):
        got = [(p[":name"], p[":sid"]) for p in data[f"submission_{i}"][":submitters"]]
        assert got == group


# Long names as Ruby's Psych writes them: libyaml folds a scalar past column 80 at a space, the
# further lines indented deeper; single quotes where a plain scalar is not allowed (": ", " #",
# a leading quote), double quotes for a leading non-word character or an escape.
LONG = "Alexandria Maximiliana Bartholomew-Fitzgerald de la Cruz y Montenegro O'Sullivan-Ramírez"
FOLDED_EXPORT = """\
---
submission_1:
  :submitters:
  - :name: Alexandria Maximiliana Bartholomew-Fitzgerald de la Cruz y Montenegro O'Sullivan-Ramírez
      the Third
    :sid: '0012'
  - :name: 'Alexandria Maximiliana Bartholomew-Fitzgerald de la Cruz y Montenegro
      O''Sullivan-Ramírez: PhD # not a comment'
    :email: a@example.edu
  - :name: "(Jane) Zo\\u00eb \\"Zed\\" Li, an escaped tab\\there and a long tail that folds
      at a space, \\
      then \\\\ joins without one,\\ 
      \\ keeps escaped spaces"
    :sid: "0099"
  - :name: 'Quoted across an empty line

      keeps one line break'
  :status: processed
submission_2:
  :submitters:
  - :name: >-
      Folded by Psych when asked for a line width: Jean-Baptiste Emmanuel Zorg de
      la Fontaine-Dubois
  - :name: |-
      Two
      lines
"""


def test_folded_names_are_read_whole():
    data = parse(FOLDED_EXPORT)
    people = data["submission_1"][":submitters"]
    assert people[0] == {":name": LONG + " the Third", ":sid": "0012"}
    assert people[1] == {":name": LONG + ": PhD # not a comment", ":email": "a@example.edu"}
    assert people[2] == {":name": '(Jane) Zoë "Zed" Li, an escaped tab\there and a long tail that '
                                  "folds at a space, then \\ joins without one,   keeps escaped spaces",
                         ":sid": "0099"}
    assert people[3] == {":name": "Quoted across an empty line\nkeeps one line break"}
    assert data["submission_1"][":status"] == "processed"
    assert data["submission_2"][":submitters"] == [
        {":name": "Folded by Psych when asked for a line width: Jean-Baptiste Emmanuel Zorg de "
                  "la Fontaine-Dubois"},
        {":name": "Two\nlines"}]


def test_a_folded_plain_name_may_look_like_yaml_on_its_next_line():
    text = ("- :name: Jane Doe the long-named person with many given names and one more\n"
            "    - Smith\n"
            "  :sid: '1'\n")
    assert parse(text) == [{":name": "Jane Doe the long-named person with many given names "
                                     "and one more - Smith", ":sid": "1"}]


def test_comments_end_a_plain_scalar_and_stay_out_of_quoted_ones():
    text = ("a: O'Brien # a comment after a plain name with a quote in it\n"
            "b: 'x # y\n"
            "  # still the name'\n"
            "c: first\n"
            "  # a comment line ends it\n"
            "d: 1\n")
    assert parse(text) == {"a": "O'Brien", "b": "x # y # still the name", "c": "first", "d": "1"}



def _dump(value, width: int, style) -> str:
    class Dumper(yaml.SafeDumper):
        pass

    def represent(dumper, text):
        names = style if text not in (":name", ":sid", ":submitters") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=names)

    Dumper.add_representer(str, represent)
    return yaml.dump(value, Dumper=Dumper, allow_unicode=True, width=width,
                     default_flow_style=False)


# YAML 1.1 (libyaml, PyYAML) also breaks lines at U+0085, U+2028 and U+2029; names do not hold
# those, and this reader does not break there, so they are left out.
long_names = st.text(alphabet=st.sampled_from(list(
    string.ascii_letters + "   '\":#-,.()\\\téøЖ中\u00a0\u00e9")), min_size=1, max_size=200)


@pytest.mark.skipif(yaml is None, reason="PyYAML (a test extra) is not installed")
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(long_names, st.text(string.digits, max_size=8)), min_size=1, max_size=3),
       st.sampled_from([20, 40, 69, 80]), st.sampled_from([None, "'", '"', ">", "|"]))
def test_names_dumped_by_a_yaml_emitter_round_trip(people, width, style):
    """PyYAML's emitter (a port of libyaml's, which Psych uses) as the oracle: whatever style
    and width it folds a name with, the name is read back whole."""
    document = {"submission_7": {":submitters": [{":name": n, ":sid": s} for n, s in people]}}
    text = _dump(document, width, style)
    if yaml.safe_load(text) != document:
        return  # the emitter itself cannot write this name in this style (PyYAML's limits)
    assert parse(text) == document


def test_tagged_and_binary_names_are_read_as_text():
    # Psych writes a String whose encoding is binary as base64 under !binary, over lines.
    encoded = base64.b64encode("Jürgen Straße-Łukasiewicz, the long-named".encode()).decode()
    text = (":submitters:\n- :name: !binary |-\n    " + encoded[:24] + "\n    " + encoded[24:]
            + "\n  :sid: '1'\n- :name: !ruby/string 'a tagged\n    name'\n- :name: !binary |-\n"
            + "    not base64 at all\n:results: !ruby/hash:Foo\n  a: 1\n")
    assert parse(text) == {":submitters": [
        {":name": "Jürgen Straße-Łukasiewicz, the long-named", ":sid": "1"},
        {":name": "a tagged name"}, {":name": "not base64 at all"}], ":results": {"a": "1"}}
