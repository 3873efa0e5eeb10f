#!/usr/bin/python3
"""A third-party BitTorrent client for the closed-swarm tests: Debian's
python3-libtorrent (the same library's Python binding, none of deltaswarm's
code), dialling one peer for a bounded time.

  foreign_client.py TORRENT PEER_IP:PORT SAVE_DIR SECONDS [--cert C --key K --dh D]

Prints one JSON line: payload bytes received, bytes verified, whether it
finished, and the errors libtorrent raised. Exits 0 whatever it received:
the test judges the numbers. Traffic goes only to PEER (loopback in tests).
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("peer")
    ap.add_argument("save")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--dh")
    a = ap.parse_args()

    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0,127.0.0.1:0s",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.status | lt.alert_category.error,
    })
    ti = lt.torrent_info(a.torrent)
    h = ses.add_torrent({"ti": ti, "save_path": a.save})
    host, port = a.peer.rsplit(":", 1)
    h.connect_peer((host, int(port)))
    errors = []
    deadline = time.monotonic() + a.seconds
    st = h.status()
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.torrent_need_cert_alert) and a.cert:
                h.set_ssl_certificate(a.cert, a.key, a.dh)
            elif alert.category() & lt.alert_category.error:
                errors.append(alert.message())
        st = h.status()
        if st.is_finished or st.is_seeding:
            break
    print(json.dumps({"payload_download": st.total_payload_download, "done": st.total_wanted_done,
                      "wanted": st.total_wanted, "finished": bool(st.is_finished or st.is_seeding),
                      "errors": errors[-5:]}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
