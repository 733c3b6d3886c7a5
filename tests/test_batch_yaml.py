"""The stdlib reader for Gradescope's submission_metadata.yml."""
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.batch.yaml_subset import parse

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
