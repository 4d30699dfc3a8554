"""The monitor's Prometheus endpoint (/metrics), read by the real prometheus_client parser,
with counters checked against traffic sent by nats-py across two shards."""

import asyncio
import re
import urllib.request

import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Server, is_go

MONITOR = re.compile(r"Starting http monitor on 127\.0\.0\.1:(\d+)")


def scrape(port: int) -> dict:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    for (n, lbls), v in samples.items():
        if n == name and all(dict(lbls).get(k) == str(val) for k, val in labels.items()):
            return v
    raise KeyError(f"{name} {labels} not in {sorted(n for n, _ in samples)}")


@pytest.mark.skipif(is_go(), reason="/metrics is nats-tpc's own endpoint")
def test_metrics_parse_and_follow_traffic():
    server = Server("-m", "-1", "--shards", "2")
    try:
        port = int(server.wait_for_log(MONITOR).group(1))

        async def traffic():
            sub = await nats.connect(server.url)
            got = []

            async def on_msg(m):
                got.append(m)

            await sub.subscribe("metrics.test", cb=on_msg)
            await sub.flush()
            pub = await nats.connect(server.url)
            for _ in range(25):
                await pub.publish("metrics.test", b"12345")
            await pub.flush()
            for _ in range(100):
                if len(got) == 25:
                    break
                await asyncio.sleep(0.02)
            assert len(got) == 25
            # The counters are published per batch; give the last batch a moment.
            await asyncio.sleep(0.1)
            samples = scrape(port)
            await sub.close()
            await pub.close()
            return samples

        samples = asyncio.run(traffic())
        # prometheus_client names counter samples with a _total suffix.
        assert value(samples, "gnatsd_varz_in_msgs_total") == 25
        assert value(samples, "gnatsd_varz_out_msgs_total") == 25
        assert value(samples, "gnatsd_varz_in_bytes_total") == 125
        assert value(samples, "gnatsd_varz_connections") == 2
        assert value(samples, "gnatsd_varz_subscriptions") >= 1
        per_shard_in = sum(
            value(samples, "nats_tpc_shard_in_msgs_total", shard=i) for i in range(2)
        )
        assert per_shard_in == 25
        per_shard_conns = sum(
            value(samples, "nats_tpc_shard_connections", shard=i) for i in range(2)
        )
        assert per_shard_conns == 2
    finally:
        server.stop()
