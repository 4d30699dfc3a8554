"""nats-py against an authenticating server (spec §2.11): each auth mode connects with the
right credentials and fails with `Authorization Violation` otherwise; permission violations
reach the error callback and the connection stays. Bcrypt hashes and nkeys are made per run.
"""

import asyncio
import os
import tempfile

import bcrypt
import nats
import nkeys
import pytest
from nats.errors import NoRespondersError

from conftest import Server

WAIT = 10.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def config_server(text: str, *args: str) -> Server:
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        return Server("-c", path, *args)
    finally:
        os.unlink(path)


async def connect(server, **kwargs):
    return await nats.connect(
        server.url, allow_reconnect=False, max_reconnect_attempts=0, **kwargs
    )


async def sync(nc):
    with pytest.raises(NoRespondersError):
        await nc.request("_sync.nobody.listens", b"", timeout=WAIT)


async def refused(server, **kwargs):
    errors = []

    async def cb(e):
        errors.append(str(e))

    with pytest.raises(Exception):
        await connect(server, error_cb=cb, **kwargs)
    assert any("authorization violation" in e.lower() for e in errors), errors


def test_user_password_and_bcrypt():
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    s = config_server(
        "authorization { users: [ {user: plain, password: pw}, "
        f'{{user: hashed, password: "{hashed}"}} ] }}\n'
    )
    try:

        async def main():
            nc = await connect(s, user="plain", password="pw")
            await sync(nc)
            await nc.close()
            nc = await connect(s, user="hashed", password="secret")
            await sync(nc)
            await nc.close()
            await refused(s, user="plain", password="nope")
            await refused(s)

        run(main())
    finally:
        s.stop()


def test_token():
    s = config_server("authorization { token: tok }\n")
    try:

        async def main():
            nc = await connect(s, token="tok")
            await sync(nc)
            await nc.close()
            await refused(s, token="bad")

        run(main())
    finally:
        s.stop()


def test_nkey_seed_signs_the_nonce(tmp_path):
    # A fresh user key for this run.
    kp = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    other = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    other_file = tmp_path / "other.nk"
    other_file.write_bytes(other.seed)
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(kp.seed)
    s = config_server(f"authorization {{ users: [ {{nkey: {kp.public_key.decode()}}} ] }}\n")
    try:

        async def main():
            nc = await connect(s, nkeys_seed=str(seed_file))
            await sync(nc)
            await nc.close()
            await refused(s, nkeys_seed=str(other_file))

        run(main())
    finally:
        s.stop()


def test_permission_violation_keeps_the_connection():
    s = config_server(
        "authorization { users: [ {user: u, password: p, "
        'permissions: {publish: "ok.>", subscribe: "ok.>"}} ] }\n'
    )
    try:

        async def main():
            errors = []

            async def cb(e):
                errors.append(str(e))

            nc = await connect(s, user="u", password="p", error_cb=cb)
            got = []
            sub = await nc.subscribe("ok.x")
            await nc.publish("denied", b"x")
            await nc.publish("ok.x", b"y")
            msg = await sub.next_msg(timeout=WAIT)
            got.append(msg.data)
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.05)
            assert got == [b"y"]
            assert any('permissions violation for publish to "denied"' in e.lower() for e in errors), errors
            assert nc.is_connected
            await nc.close()

        run(main())
    finally:
        s.stop()
