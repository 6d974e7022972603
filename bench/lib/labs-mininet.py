#!/usr/bin/python3
"""Mininet contender of `bench/run labs` (see bench/README.md).

usage: labs-mininet.py single N | linear K

Builds Mininet 2.3's SingleSwitchTopo(k=N) or LinearTopo(k=K, n=1) with Linux bridge switches
(mininet.nodelib.LinuxBridge, STP off) and no controller, times net.build() + net.start(),
prints one JSON line (times, and each host's name, pid, interface and address so the harness
can verify the kernel state from outside), waits for one line on stdin, times net.stop(),
prints a second JSON line. Run by warren-bench inside its sandbox; it must not be run on a
host whose other bridges or namespaces matter less than Mininet's cleanup (it only removes
what it created: net.stop(), never `mn -c`).
"""
import json
import sys
import time

t0 = time.monotonic()
from mininet.log import setLogLevel  # noqa: E402
from mininet.net import Mininet  # noqa: E402
from mininet.nodelib import LinuxBridge  # noqa: E402
from mininet.topo import LinearTopo, SingleSwitchTopo  # noqa: E402

import_s = time.monotonic() - t0


def main():
    kind, n = sys.argv[1], int(sys.argv[2])
    setLogLevel('error')
    if kind == 'single':
        topo = SingleSwitchTopo(k=n)
    elif kind == 'linear':
        topo = LinearTopo(k=n, n=1)
    else:
        raise SystemExit('unknown topology ' + kind)
    t = time.monotonic()
    net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False)
    net.build()
    net.start()
    up_s = time.monotonic() - t
    hosts = [[h.name, h.pid, h.defaultIntf().name, h.IP()] for h in net.hosts]
    switches = [[s.name, len([i for i in s.intfList() if i.name != 'lo'])]
                for s in net.switches]
    print(json.dumps({'up_s': up_s, 'import_s': import_s, 'hosts': hosts,
                      'switches': switches}), flush=True)
    sys.stdin.readline()
    t = time.monotonic()
    net.stop()
    print(json.dumps({'down_s': time.monotonic() - t}), flush=True)


main()
