"""nats-py against the real server: what a Python user of nats-tpc sees.

Plain test functions run their coroutine with asyncio.run, so no pytest plugin is needed.
"""

import asyncio

import nats
import pytest
from nats.errors import NoRespondersError, TimeoutError

WAIT = 10.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def sync(nc):
    """A round trip through the server, ordered after everything `nc` sent before.

    nats-py 2.16's `flush()` writes its PING straight to the socket, ahead of commands still
    in the client's pending buffer (a SUB made just before can reach the server after the
    PONG). A request goes through that buffer in order, and with nobody listening the server
    answers with a 503 no-responders status.
    """
    with pytest.raises(NoRespondersError):
        await nc.request("_sync.nobody.listens", b"", timeout=WAIT)


async def connect(server, **kwargs):
    return await nats.connect(server.url, allow_reconnect=False, **kwargs)


def test_server_info(server):
    async def main():
        nc = await connect(server)
        info = nc._server_info
        assert info["proto"] == 1
        assert info["headers"] is True
        assert info["max_payload"] == 1048576
        assert info["client_id"] > 0
        assert nc.max_payload == 1048576
        await nc.close()

    run(main())


def test_publish_subscribe_between_clients(server):
    async def main():
        sub_nc = await connect(server)
        sub = await sub_nc.subscribe("greet.joe")
        await sync(sub_nc)
        pub_nc = await connect(server)
        await pub_nc.publish("greet.joe", b"hello")
        await pub_nc.flush()
        msg = await sub.next_msg(timeout=WAIT)
        assert msg.subject == "greet.joe"
        assert msg.data == b"hello"
        assert msg.reply == ""
        assert not msg.headers
        await sub_nc.close()
        await pub_nc.close()

    run(main())


def test_wildcards(server):
    async def main():
        nc = await connect(server)
        star = await nc.subscribe("a.*.c")
        gt = await nc.subscribe("a.>")
        for subject in ["a", "a.b", "a.b.c", "a.x.y.z", "b.b.c"]:
            await nc.publish(subject, subject.encode())
        await nc.publish("a.end.c", b"marker")
        await nc.flush()
        assert (await star.next_msg(timeout=WAIT)).subject == "a.b.c"
        assert (await star.next_msg(timeout=WAIT)).subject == "a.end.c"
        got = [(await gt.next_msg(timeout=WAIT)).subject for _ in range(4)]
        # `a.>` does not match `a` itself.
        assert got == ["a.b", "a.b.c", "a.x.y.z", "a.end.c"]
        await nc.close()

    run(main())


def test_request_reply(server):
    async def main():
        responder = await connect(server)

        async def handler(msg):
            await responder.publish(msg.reply, b"re:" + msg.data)

        await responder.subscribe("svc.echo", cb=handler)
        await sync(responder)
        nc = await connect(server)
        for i in range(3):
            resp = await nc.request("svc.echo", str(i).encode(), timeout=WAIT)
            assert resp.data == f"re:{i}".encode()
        await nc.close()
        await responder.close()

    run(main())


def test_request_with_no_responders(server):
    async def main():
        nc = await connect(server)
        with pytest.raises(NoRespondersError):
            await nc.request("nobody.home", b"?", timeout=WAIT)
        await nc.close()

    run(main())


def test_queue_group_delivers_each_message_once(server):
    n = 300

    async def main():
        members, conns = [], []
        for _ in range(3):
            c = await connect(server)
            members.append(await c.subscribe("jobs", queue="workers"))
            await sync(c)
            conns.append(c)
        publisher = await connect(server)
        for i in range(n):
            await publisher.publish("jobs", str(i).encode())
        await publisher.flush()

        got = []
        queue = asyncio.Queue()

        async def pump(sub):
            async for msg in sub.messages:
                await queue.put(msg.data.decode())

        tasks = [asyncio.create_task(pump(s)) for s in members]
        for _ in range(n):
            got.append(await asyncio.wait_for(queue.get(), WAIT))
        for t in tasks:
            t.cancel()
        assert sorted(got, key=int) == [str(i) for i in range(n)]
        for c in conns + [publisher]:
            await c.close()

    run(main())


def test_two_queue_groups_each_get_every_message(server):
    n = 50

    async def main():
        nc = await connect(server)
        b = await nc.subscribe("q", queue="b")
        a1 = await nc.subscribe("q", queue="a")
        a2 = await nc.subscribe("q", queue="a")
        for i in range(n):
            await nc.publish("q", str(i).encode())
        # The 503 comes after every message the server sent this connection before it.
        await sync(nc)
        got_b = [(await b.next_msg(timeout=WAIT)).data.decode() for _ in range(n)]
        assert got_b == [str(i) for i in range(n)]
        # Group a: every message once, split between its two members, all queued by now.
        got_a = []
        for sub in (a1, a2):
            while sub.pending_msgs > 0:
                got_a.append((await sub.next_msg(timeout=WAIT)).data.decode())
        assert sorted(got_a, key=int) == [str(i) for i in range(n)]
        await nc.close()

    run(main())


def test_headers_round_trip(server):
    async def main():
        nc = await connect(server)
        sub = await nc.subscribe("h")
        await nc.publish("h", b"body", headers={"X-Trace": "abc-123", "Empty": ""})
        msg = await sub.next_msg(timeout=WAIT)
        assert msg.data == b"body"
        assert msg.headers["X-Trace"] == "abc-123"
        await nc.close()

    run(main())


def test_request_with_headers(server):
    async def main():
        responder = await connect(server)

        async def handler(msg):
            await responder.publish(msg.reply, b"ok", headers={"A": msg.headers.get("Q", "")})

        await responder.subscribe("svc.h", cb=handler)
        await sync(responder)
        nc = await connect(server)
        resp = await nc.request("svc.h", b"?", timeout=WAIT, headers={"Q": "42"})
        assert resp.data == b"ok"
        assert resp.headers["A"] == "42"
        await nc.close()
        await responder.close()

    run(main())


def test_flush_then_publishes_arrive_in_order(server):
    n = 1000

    async def main():
        sub_nc = await connect(server)
        sub = await sub_nc.subscribe("ordered")
        await sync(sub_nc)
        publisher = await connect(server)
        for i in range(n):
            await publisher.publish("ordered", str(i).encode())
        await publisher.flush()
        got = [(await sub.next_msg(timeout=WAIT)).data.decode() for _ in range(n)]
        assert got == [str(i) for i in range(n)]
        await sub_nc.close()
        await publisher.close()

    run(main())


def test_subscribe_sync_publish_from_other_client_always_delivers(server):
    async def main():
        sub_nc = await connect(server)
        publisher = await connect(server)
        for i in range(200):
            sub = await sub_nc.subscribe(f"race.{i}")
            await sync(sub_nc)
            await publisher.publish(f"race.{i}", b"x")
            await publisher.flush()
            await sub.next_msg(timeout=WAIT)
            await sub.unsubscribe()
        await sub_nc.close()
        await publisher.close()

    run(main())


def test_auto_unsubscribe(server):
    async def main():
        nc = await connect(server)
        limited = await nc.subscribe("limited")
        await limited.unsubscribe(limit=2)
        other = await nc.subscribe("limited")
        for i in range(5):
            await nc.publish("limited", str(i).encode())
        await nc.flush()
        assert [(await other.next_msg(timeout=WAIT)).data for _ in range(5)] == [
            b"0", b"1", b"2", b"3", b"4"
        ]
        assert (await limited.next_msg(timeout=WAIT)).data == b"0"
        assert (await limited.next_msg(timeout=WAIT)).data == b"1"
        # Everything the server sent has arrived (other got all 5 after the flush): no third.
        with pytest.raises(TimeoutError):
            await limited.next_msg(timeout=0.2)
        await nc.close()

    run(main())


def test_unsubscribe_stops_delivery(server):
    async def main():
        nc = await connect(server)
        gone = await nc.subscribe("u")
        stays = await nc.subscribe("u")
        await gone.unsubscribe()
        await nc.publish("u", b"after")
        await nc.flush()
        assert (await stays.next_msg(timeout=WAIT)).data == b"after"
        assert gone.pending_msgs == 0
        await nc.close()

    run(main())


def test_no_echo(server):
    async def main():
        quiet = await connect(server, no_echo=True)
        own = await quiet.subscribe("chat")
        await sync(quiet)
        listener = await connect(server)
        theirs = await listener.subscribe("chat")
        await sync(listener)

        await quiet.publish("chat", b"from-quiet")
        await sync(quiet)
        await listener.publish("chat", b"from-listener")
        await listener.flush()

        assert (await own.next_msg(timeout=WAIT)).data == b"from-listener"
        assert (await theirs.next_msg(timeout=WAIT)).data == b"from-quiet"
        assert (await theirs.next_msg(timeout=WAIT)).data == b"from-listener"
        await quiet.close()
        await listener.close()

    run(main())


def test_large_payload(server):
    async def main():
        nc = await connect(server)
        sub = await nc.subscribe("big")
        payload = bytes(i % 251 for i in range(1_000_000))
        await nc.publish("big", payload)
        msg = await sub.next_msg(timeout=WAIT)
        assert msg.data == payload
        await nc.close()

    run(main())
