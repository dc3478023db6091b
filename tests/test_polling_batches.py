"""A burst of emits that a client batches into one long-polling POST is not lost."""

from __future__ import annotations

import requests


def test_batch_of_many_packets_in_one_post_is_processed(server):
    alice, bob = server.register(), server.register()
    # A raw Engine.IO polling session, so the batch size is ours to choose (browsers batch
    # whatever was emitted while the previous POST was in flight).
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    http = requests.Session()
    open_packet = http.get(base, timeout=10).text
    sid = open_packet[open_packet.index('"sid":"') + 7 :].split('"')[0]
    url = f"{base}&sid={sid}"
    assert http.post(url, data=f'40/forward,{{"token":"{alice["token"]}"}}', timeout=10).ok
    bob_http = requests.Session()
    bob_open = bob_http.get(base, timeout=10).text
    bob_sid = bob_open[bob_open.index('"sid":"') + 7 :].split('"')[0]
    bob_url = f"{base}&sid={bob_sid}"
    assert bob_http.post(bob_url, data=f'40/forward,{{"token":"{bob["token"]}"}}', timeout=10).ok

    count = 100
    batch = "\x1e".join(
        f'42/forward,["forward",{{"target":{bob["id"]},"n":{n}}}]' for n in range(count)
    )
    assert http.post(url, data=batch, timeout=10).text == "OK"
    received = []
    while len(received) < count:
        body = bob_http.get(bob_url, timeout=30).text
        for packet in body.split("\x1e"):
            if packet.startswith('42/forward,["forwarded"'):
                received.append(packet)
    assert [f'"n":{n},' in packet for n, packet in enumerate(received)] == [True] * count
    http.close()
    bob_http.close()
