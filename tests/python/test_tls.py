"""nats-py over TLS (spec §4.6): mutual TLS with a CA the test makes, and TLS first.

Certificates come from the `cryptography` package, made fresh in a temp dir per test.
"""

import asyncio
import datetime
import ipaddress
import ssl

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import Server

WAIT = 10.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, ca=False, sans=None, usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, cert, key):
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path.with_suffix(".pem")), str(path.with_suffix(".key"))


@pytest.fixture
def pki(tmp_path):
    """Paths: ca, server (cert, key), client (signed by the CA), rogue (another CA)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("Test CA"), ca_key, _name("Test CA"), ca_key, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert(_name("Other CA"), other_key, _name("Other CA"), other_key, ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out = {"ca": str(tmp_path / "ca.pem")}
    skey = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    s = _cert(_name("localhost"), skey, ca.subject, ca_key, sans=sans,
              usage=ExtendedKeyUsageOID.SERVER_AUTH)
    out["server"] = _write(tmp_path / "server", s, skey)
    for name, issuer, ikey in [("client", ca, ca_key), ("rogue", other, other_key)]:
        k = ec.generate_private_key(ec.SECP256R1())
        c = _cert(_name(name), k, issuer.subject, ikey, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        out[name] = _write(tmp_path / name, c, k)
    return out


def _conf(tmp_path, pki, extra):
    cert, key = pki["server"]
    path = tmp_path / "tls.conf"
    path.write_text(f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n{extra}\n}}\n')
    return str(path)


def _ctx(pki, identity=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki["ca"])
    if identity:
        ctx.load_cert_chain(*pki[identity])
    return ctx


async def _round_trip(nc):
    sub = await nc.subscribe("py.tls")
    await nc.flush()
    await nc.publish("py.tls", b"secret")
    msg = await sub.next_msg(timeout=WAIT)
    assert msg.data == b"secret"


async def _connect(server, ctx, **kw):
    return await nats.connect(
        f"tls://127.0.0.1:{server.port}",
        tls=ctx,
        allow_reconnect=False,
        connect_timeout=WAIT,
        **kw,
    )


def test_mutual_tls_accepts_the_ca_signed_client_and_refuses_others(tmp_path, pki):
    conf = _conf(tmp_path, pki, f'  ca_file: "{pki["ca"]}"\n  verify: true')
    server = Server("-c", conf)

    async def main():
        nc = await _connect(server, _ctx(pki, "client"))
        assert nc.connected_server_version.major == 2
        await _round_trip(nc)
        await nc.close()
        for identity in ("rogue", None):
            with pytest.raises(Exception):
                bad = await _connect(server, _ctx(pki, identity))
                # Some TLS 1.3 refusals only surface on the first exchange.
                await bad.flush(timeout=WAIT)

    try:
        run(main())
    finally:
        server.stop()


def test_handshake_first_with_tls_first_client(tmp_path, pki):
    server = Server("-c", _conf(tmp_path, pki, "  handshake_first: true"))

    async def main():
        nc = await _connect(server, _ctx(pki), tls_handshake_first=True)
        await _round_trip(nc)
        await nc.close()

    try:
        run(main())
    finally:
        server.stop()
