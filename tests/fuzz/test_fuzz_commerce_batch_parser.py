"""The Commerce sandbox's `$batch` parser with its header cache (local/commerce/batch.py,
`_Registry`) against the same parser on the stock `policy.HTTP`: for any body, well formed,
nearly or not at all, both give the same items or the same refusal -- including after each other's
earlier bodies, since the cache lives across requests. And its delimiter check (a literal
search) refuses exactly what the pattern it replaced refused."""

from __future__ import annotations

import re
from email import policy
from typing import Any

from fuzz_strategies import FUZZ
from hypothesis import event, example, given
from hypothesis import strategies as st

from local.commerce import batch
from local.commerce.model import SandboxError

HOST = "commerce.example"
boundaries = st.sampled_from(["batch_36522ad7", "changeset_77162fcd", "b1", "cs-2", "B_3"])
tokens = st.one_of(
    st.sampled_from(["b1", "batch_36522ad7", "changeset_77162fcd", "x y", '"q"', "a=b", "", "é", "\t"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
)
content_types = st.one_of(
    st.sampled_from(["application/http", "multipart/mixed", "text/plain", "application/json", ""]),
    st.builds(lambda b: f"multipart/mixed; boundary={b}", tokens),
    st.builds(lambda b: f'multipart/mixed; boundary="{b}"', tokens),
    st.builds(lambda a, b: f"{a}; {b}", tokens, tokens),
)
request_lines = st.one_of(
    st.builds(
        lambda m, u: f"{m} {u} HTTP/1.1",
        st.sampled_from(["GET", "POST", "POST", "PATCH", "DELETE", "PUT", "FOO", "post"]),
        st.sampled_from(
            [
                f"http://{HOST}/data/RetailTeamsSourceTeamMappings",
                "RetailTeamsSourceTeamMappings",
                "/data/Workers?$select=PersonnelNumber",
                "/data/$batch",
                "http://elsewhere/data/Workers",
                "/other/Workers",
                "",
            ]
        ),
    ),
    tokens,
    st.just("POST RetailTeamsSourceTeamMappings HTTP/1.1"),
)


@st.composite
def requests(draw: st.DrawFn, boundary: str, changeset: bool, n: int, valid: bool) -> str:
    """One part: a GET outside a change set, a POST inside one with Content-ID `n` when `valid`;
    anything the strategies give otherwise."""
    nl = "\r\n" if valid else draw(st.sampled_from(["\r\n"] * 8 + ["\n"]))
    kind = "application/http" if valid else draw(st.sampled_from(["application/http"] * 5 + ["text/plain"]))
    headers = [f"Content-Type: {kind}"]
    if valid or changeset or draw(st.integers(0, 5)):
        encoding = "binary" if valid else draw(st.sampled_from(["binary", "binary", "base64", "x"]))
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if changeset and (valid or draw(st.integers(0, 4))):
        headers.append(f"Content-ID: {n if valid else draw(st.sampled_from(['1', '2', '1', '', 'id 9']))}")
    if not valid:
        headers += [f"{draw(tokens)}: {draw(tokens)}" for _ in range(draw(st.integers(0, 2)))]
    if valid:
        writes = ["RetailTeamsSourceTeamMappings", f"http://{HOST}/data/Workers"]
        reads = ["/data/Workers?$select=PersonnelNumber", "RetailStores"]
        target = draw(st.sampled_from(writes if changeset else reads))
        line = f"{'POST' if changeset else 'GET'} {target} HTTP/1.1"
    else:
        line = draw(request_lines)
    inner = line + "\r\nContent-Type: application/json\r\n"
    inner += "\r\n" if valid else draw(st.sampled_from(["\r\n", "", "\n"]))
    inner += draw(st.sampled_from(['{"a": 1}', "", "{", '{"Name": "é"}']))
    return f"--{boundary}{nl}" + nl.join(headers) + nl + nl + inner + "\r\n"


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A batch: well formed (half the time, so the items are compared too), with one flaw in the
    parts' strategies, or anything at all, a byte or two out of place."""
    mode = draw(st.sampled_from(["valid", "valid", "flawed", "wild"]))
    valid = mode == "valid"
    outer = draw(boundaries if mode != "wild" else tokens)
    parts: list[str] = []
    ids = iter(range(1, 100))
    for _ in range(draw(st.integers(0 if mode == "wild" else 1, 4))):
        if draw(st.booleans()):
            inner = draw(boundaries if mode != "wild" else tokens)
            if inner == outer:
                inner += "_cs"
            count = 1 if valid else draw(st.integers(0, 2))
            sets = "".join(draw(requests(inner, True, next(ids), valid)) for _ in range(count))
            head = "multipart/mixed; boundary="
            if not valid:
                head = draw(
                    st.sampled_from([head] * 4 + ["multipart/mixed;boundary=", "text/plain; boundary="])
                )
            parts.append(f"--{outer}\r\nContent-Type: {head}{inner}\r\n\r\n{sets}--{inner}--\r\n")
        else:
            parts.append(draw(requests(outer, False, 0, valid)))
    ends = [f"--{outer}--\r\n", f"--{outer}--", "", f"--{outer}"]
    text = "".join(parts) + (ends[0] if valid else draw(st.sampled_from(ends)))
    data = text.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(0, 2)) if mode == "wild" else 0):
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + draw(st.binary(max_size=3)) + data[i + draw(st.integers(0, 3)) :]
    whole = st.just(f"multipart/mixed; boundary={outer}")
    content_type = draw(st.one_of(whole, content_types) if mode == "wild" else whole)
    return content_type, data


def _outcome(content_type: str, data: bytes) -> Any:
    try:
        return ("items", batch.parse(content_type, data, HOST))
    except SandboxError as exc:
        return ("refused", exc.status, str(exc))
    except Exception as exc:  # whatever it is, both must raise it alike
        return ("raised", type(exc).__name__, str(exc))


@FUZZ
@given(st.lists(bodies(), min_size=1, max_size=3))
def test_fuzz_the_cached_header_parsing_parses_batches_as_the_stock_policy_does(
    sent: list[tuple[str, bytes]],
) -> None:
    cached = batch._POLICY
    for content_type, data in sent:
        try:
            batch._POLICY = policy.HTTP
            stock = _outcome(content_type, data)
        finally:
            batch._POLICY = cached
        event(stock[0] if stock[0] != "refused" else "refused: " + stock[2].split(":")[1][:40])
        assert _outcome(content_type, data) == stock


def _bare_lf_before(body: bytes, boundary: str) -> bool:
    """The reference: the pattern `_check_delimiters` used before its literal search."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    return re.search(rb"(?<!\r)\n" + re.escape(delimiter), body) is not None


@FUZZ
@given(
    st.sampled_from(["b1", "aa", "changeset_77162fcd", "x.y+z", "é"]),
    st.lists(
        st.one_of(
            st.sampled_from([b"\r\n", b"\n", b"\r", b"-", b"--", b"a", b"\n\n", b"\r\r\n"]),
            st.binary(max_size=4),
            st.just(None),  # the delimiter itself
        ),
        max_size=12,
    ),
)
@example("b1", [b"\n", None])  # a bare LF as the body's first byte
@example("b1", [b"\r\n", None])
@example("b1", [None, b"\r", b"\n", None])
def test_fuzz_the_delimiter_check_refuses_what_its_pattern_refused(
    boundary: str, pieces: list[bytes | None]
) -> None:
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    body = b"".join(delimiter if p is None else p for p in pieces)
    try:
        batch._check_delimiters(body, boundary)
        refused = False
    except SandboxError:
        refused = True
    assert refused == _bare_lf_before(body, boundary)
