"""The notifier's HTTP client (local/graph/poster.py) against real sockets: answers with a length,
chunked, to the end of the connection, HTTP/1.0, interim 1xx; kept-alive connections reused, and a
kept-alive connection the endpoint closed while idle is not a failed delivery; refused, silent and
malformed endpoints are PostErrors; https to an endpoint whose certificate is trusted and names its
host, and nothing to one whose certificate is not."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from local.graph.poster import Poster, PostError

from .conftest import Receiver

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


class Endpoint:
    """An asyncio endpoint: reads each request whole, records it, and lets `answer` write the
    answer (returning False closes the connection)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.accepted = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if not await self.answer(reader, writer, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@asynccontextmanager
async def endpoint(answer: Answer, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[Endpoint, str]]:
    ep = Endpoint(answer)
    server = await asyncio.start_server(ep.handle, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield ep, f"{'https' if tls else 'http'}://127.0.0.1:{port}/notify?x=1"
    finally:
        server.close()
        for w in ep.writers:
            w.close()


def _writes(data: bytes, keep: bool = True) -> Answer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        writer.write(data)
        await writer.drain()
        return keep

    return answer


BODY = json.dumps({"value": [{"id": "1", "changeType": "created"}]}).encode()


async def test_a_kept_alive_connection_carries_every_post_and_the_request_is_a_json_post() -> None:
    poster = Poster()
    async with endpoint(_writes(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")) as (ep, url):
        for _ in range(5):
            assert await poster.post_json(url, BODY, 3.0) == 202
        await poster.close()
    assert ep.accepted == 1 and poster.connections == 1
    head, body = ep.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /notify?x=1 HTTP/1.1"
    assert "Content-Type: application/json" in lines and f"Content-Length: {len(BODY)}" in lines
    assert any(line.startswith("Host: 127.0.0.1:") for line in lines)
    assert body == BODY


async def test_a_url_with_a_space_or_a_non_ascii_character_is_sent_percent_encoded_as_httpx_does() -> None:
    poster = Poster()
    async with endpoint(_writes(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")) as (ep, url):
        base = url.split("/notify")[0]
        odd = f"{base}/a b/é;x=1?q=x y&z=é%20&k=/?:@"
        assert await poster.post_json(odd, BODY, 3.0) == 202
        await poster.close()
    request_line = ep.requests[0][0].split(b"\r\n")[0]
    assert request_line == b"POST " + httpx.Request("POST", odd).url.raw_path + b" HTTP/1.1"


async def test_posts_in_flight_together_each_have_a_connection_then_share_them() -> None:
    release, arrived = asyncio.Event(), asyncio.Event()
    waiting = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        nonlocal waiting
        waiting += 1
        if waiting == 4:
            arrived.set()
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return True

    poster = Poster()
    async with endpoint(answer) as (ep, url):
        posts = [asyncio.create_task(poster.post_json(url, BODY, 3.0)) for _ in range(4)]
        await asyncio.wait_for(arrived.wait(), 5)  # all four are in flight, each on its own connection
        release.set()
        assert await asyncio.gather(*posts) == [200] * 4
        assert await asyncio.gather(*(poster.post_json(url, BODY, 3.0) for _ in range(4))) == [200] * 4
        await poster.close()
    assert ep.accepted == 4


@pytest.mark.parametrize(
    ("answer", "status", "keep"),
    [
        (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\nabcd\r\n0\r\nTrailer: x\r\n\r\n",
            202,
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202, True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, True),
        (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 202, False),
        (b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n", 202, False),
        # a body to the end of the connection: the endpoint closes it
        (b"HTTP/1.1 503 Service Unavailable\r\n\r\nbody to the end", 503, None),
    ],
    ids=["chunked", "interim-100", "no-content", "connection-close", "http-1.0", "body-to-the-end"],
)
async def test_each_answer_the_endpoint_may_give_is_read_through_and_the_connection_kept_or_not(
    answer: bytes, status: int, keep: bool | None
) -> None:
    """Three POSTs: on one connection when the answer leaves it open, else one each. The endpoint
    keeps its end open either way (but for a body to the end), so reusing a connection the answer
    closed would show as fewer connections."""
    poster = Poster()
    async with endpoint(_writes(answer, keep=keep is not None)) as (ep, url):
        statuses = [await poster.post_json(url, BODY, 3.0) for _ in range(3)]
        await poster.close()
    assert statuses == [status] * 3
    assert ep.accepted == (1 if keep else 3)


async def test_a_kept_alive_connection_the_endpoint_closed_while_idle_is_not_a_failure() -> None:
    poster = Poster()
    async with endpoint(_writes(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")) as (ep, url):
        assert await poster.post_json(url, BODY, 3.0) == 202
        # The endpoint drops the idle connection (a keep-alive timeout), unseen by the poster
        # until it uses it.
        ep.writers[0].close()
        assert await poster.post_json(url, BODY, 3.0) == 202
        await poster.close()
    assert ep.accepted == 2 and len(ep.requests) == 2


async def test_a_connection_that_closes_before_answering_a_first_post_is_a_failure() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        return False

    poster = Poster()
    async with endpoint(hang_up) as (ep, url):
        with pytest.raises(PostError, match="closed before an answer"):
            await poster.post_json(url, BODY, 3.0)
        await poster.close()
    assert ep.accepted == 1  # not sent again: only a reused connection is


async def test_a_silent_endpoint_times_out_and_its_connection_is_not_reused() -> None:
    calls = 0

    async def silent_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        return True

    poster = Poster()
    async with endpoint(silent_once) as (ep, url):
        with pytest.raises(PostError, match=r"no answer within 0\.2 s"):
            await poster.post_json(url, BODY, 0.2)
        assert await poster.post_json(url, BODY, 3.0) == 202
        await poster.close()
    assert ep.accepted == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/2 200\r\n\r\n",
        b"hello\r\n\r\n",
        b"HTTP/1.1 abc Nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
    ],
    ids=["http2", "garbage", "status", "header", "length", "lengths", "chunk", "truncated", "headers"],
)
async def test_a_malformed_answer_is_a_post_error(answer: bytes) -> None:
    poster = Poster()
    async with endpoint(_writes(answer, keep=False)) as (_, url):
        with pytest.raises(PostError):
            await poster.post_json(url, BODY, 3.0)
        await poster.close()


async def test_a_refused_connection_and_a_url_it_cannot_post_to_are_post_errors() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    poster = Poster()
    with pytest.raises(PostError):
        await poster.post_json(f"http://127.0.0.1:{port}/x", BODY, 3.0)
    for url in ("ftp://example.com/x", "http:///nohost", "http://127.0.0.1:99999/x"):
        with pytest.raises(PostError):
            await poster.post_json(url, BODY, 3.0)


def test_the_standard_library_http_1_0_server_is_posted_to_again_and_again(receiver: Receiver) -> None:
    """http.server (the notification tests' `Receiver`) answers HTTP/1.0 and closes: every POST on
    a new connection, none failed."""

    async def run() -> list[int]:
        poster = Poster()
        try:
            return [await poster.post_json(receiver.url, BODY, 3.0) for _ in range(3)]
        finally:
            await poster.close()

    assert asyncio.run(run()) == [202] * 3
    assert receiver.received == json.loads(BODY)["value"] * 3


# -- https: the certificate is checked as Graph checks it ----------------------------------------


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """A certificate for `subject` signed by `issuer` (a CA when there is none: self-signed)."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca_of_tests() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate("cts test CA", key, None), key


def _server_tls(
    tmp_path: Path, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], names: list[x509.GeneralName]
) -> ssl.SSLContext:
    """The endpoint's TLS: a certificate from `ca` for `names`."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert, key_file = tmp_path / "endpoint.pem", tmp_path / "endpoint.key"
    cert.write_bytes(_pem(_certificate("endpoint", key, ca, names)))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key_file)
    return context


LOOPBACK: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


async def test_https_posts_go_over_tls_on_a_kept_alive_connection_to_a_trusted_endpoint(
    tmp_path: Path, ca_of_tests: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> None:
    trusting = ssl.create_default_context(cadata=_pem(ca_of_tests[0]).decode())
    poster = Poster(tls=trusting)
    tls = _server_tls(tmp_path, ca_of_tests, LOOPBACK)
    async with endpoint(_writes(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"), tls) as (ep, url):
        assert url.startswith("https://")
        assert [await poster.post_json(url, BODY, 3.0) for _ in range(3)] == [202, 202, 202]
        assert poster.connections == 1 and ep.accepted == 1
        assert [body for _, body in ep.requests] == [BODY] * 3
    await poster.close()


@pytest.mark.parametrize(
    ("trust", "names", "why"),
    [
        ("system", LOOPBACK, "CERTIFICATE_VERIFY_FAILED"),  # our CA is in no public trust store
        ("test CA", [x509.DNSName("other.example")], "CERTIFICATE_VERIFY_FAILED"),  # another host's
    ],
)
async def test_an_https_endpoint_whose_certificate_graph_would_not_trust_gets_nothing(
    tmp_path: Path,
    ca_of_tests: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    trust: str,
    names: list[x509.GeneralName],
    why: str,
) -> None:
    """A failed delivery (PostError), as from Graph: it delivers only to an endpoint whose
    certificate a public CA issued for its host (microsoftgraph/microsoft-graph-docs#11943)."""
    poster = (
        Poster()
        if trust == "system"
        else Poster(tls=ssl.create_default_context(cadata=_pem(ca_of_tests[0]).decode()))
    )
    tls = _server_tls(tmp_path, ca_of_tests, names)
    async with endpoint(_writes(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"), tls) as (ep, url):
        with pytest.raises(PostError, match=why):
            await poster.post_json(url, BODY, 3.0)
        assert ep.requests == []
    await poster.close()
