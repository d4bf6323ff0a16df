"""Shared hypothesis strategies and settings for the fuzz tests.

Every test here is bounded (a handful to a few dozen examples, no deadline) so the whole folder
runs in well under a minute. `database=None`: the fuzz tests leave no `.hypothesis/` folder behind
in the checkout; a failure prints its falsifying example, which is what goes into a bug report.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# Characters a terminal or a report would show as something other than themselves on one line.
# Kept out of *keys* in the general strategies: field_errors echoes unknown keys verbatim (a known
# bug, pinned by test_intake.test_unknown_key_with_a_line_break_stays_on_one_error_line).
safe_keys = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_keys, inner, max_size=4),
    max_leaves=12,
)

# Text a customer or handler might paste: template syntax, markup, header injection, odd Unicode.
HOSTILE_FRAGMENTS = [
    "{{ 7777*7 }}",
    "{{7777*7}}",
    "{% for x in range(3) %}looploop{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ctx }}",
    "{{ recipient.email }}",
    "{# hidden #}",
    "{% raw %}",
    "${7777*7}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
    "&amp; &lt;b&gt;",
    "\r\nBcc: x@y.z",
    "\nSubject: you have won",
    "\r\n\r\n<html>body</html>",
    "=?utf-8?q?=0D=0ABcc:_x@y.z?=",
    "\u2028To: other@y.z",
    "\x85Cc: c@y.z",
    "\x00",
    "\x1b[2J",
    "\u202eevil\u202c",
    "\u200b\u200d",
    "Zoë Łukasz Ñandú",
    "名前",
    "\U0001f600\U0001f4a9",
    "e\u0301\u0301\u0301",
    "'; DROP TABLE cases; --",
    " ",
    "\t",
]
# What evaluating the fragments above would print; none may appear unless typed by the customer.
EVALUATED_MARKERS = ["54439", "loop" * 6, "<class", "MessageContext(", "reference="]

hostile_text = st.lists(
    st.sampled_from(HOSTILE_FRAGMENTS) | st.text(min_size=1, max_size=20),
    min_size=1,
    max_size=6,
).map("".join)


def one_line(value: str) -> bool:
    """No line break of any kind (Python's splitlines is the widest definition)."""
    return len(value.splitlines()) <= 1 and not value.endswith(("\n", "\r"))
