# -*- test-case-name: tests.test_forwarded -*-
"""
Where a request came from, when it came through reverse proxies that
cheesecache is told to trust (C{--trusted-proxy}): each such proxy appends
the address it got the request from to C{X-Forwarded-For}.

Behind a proxy every request comes from the proxy's address: the access
log would name no client, and the login throttle, which counts failures
per address, would count every client's together, so that one client's
guesses at a password locked out everyone.  The header is read only from
a trusted proxy: anyone else may send it, saying anything.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Sequence, Tuple, Union

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class UNIXPeers:
    """
    The peers of UNIX-socket listeners, as trusted proxies (C{unix}): a
    proxy in front of C{--listen unix:PATH} has no address, and only local
    processes the socket's permissions let in can connect.
    """

    def __contains__(self, address: object) -> bool:
        return False  # No network address is one.

    def __repr__(self) -> str:
        return "UNIX_PEERS"


#: Given as C{--trusted-proxy unix}.
UNIX_PEERS = UNIXPeers()

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network, UNIXPeers]

#: The networks whose hosts are trusted proxies.
TrustedProxies = Tuple[Network, ...]

#: IPv4 addresses mapped into IPv6.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def parseNetwork(text: str) -> Network:
    """
    A trusted proxy's address, or a network of them (C{10.0.0.0/8}), or
    C{unix}: whatever connects to a UNIX-socket listener.  IPv4 mapped into
    IPv6 (C{::ffff:10.0.0.1}, as a dual-stack listener's log names its
    peers) is the IPv4 it is, as the peers it is matched against.

    @raise ValueError: C{text} is none of those, with a message saying so.
    """
    if text.strip().lower() == "unix":
        return UNIX_PEERS
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or network, nor unix") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network(
            (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
        )
    return network


def _address(text: str) -> Address:
    """
    An address as it is written in C{X-Forwarded-For} or given for a peer;
    an IPv4 address mapped into IPv6 (a dual-stack listener's peers) as the
    IPv4 address it is.  An IPv6 zone (C{fe80::1%eth0}) is dropped: it means
    something only on the host that wrote it, and it may be any text, which
    the address would otherwise carry into the log and the throttle's keys.

    @raise ValueError: not an address.
    """
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]  # "[::1]:8080", as some proxies write
    elif text.count(":") == 1:
        text, _, port = text.partition(":")  # "192.0.2.1:8080", as some write
        if not port.isdigit():
            raise ValueError(f"not an address: {text!r}")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


def isTrusted(address: Address, trusted: TrustedProxies) -> bool:
    return any(address in network for network in trusted)


def clientAddress(peer: str, forwardedFor: Sequence[bytes], trusted: TrustedProxies) -> str:
    """
    The address of the client a request with the C{X-Forwarded-For} lines
    C{forwardedFor} came from, over a connection from C{peer}: C{peer}
    itself, unless it is a trusted proxy (then see L{forwardedClient}).
    """
    try:
        address = _address(peer)
    except ValueError:
        return peer
    if not isTrusted(address, trusted):
        return peer
    return forwardedClient(forwardedFor, trusted) or peer


def forwardedClient(forwardedFor: Sequence[bytes], trusted: TrustedProxies) -> Optional[str]:
    """
    The client that the C{X-Forwarded-For} lines C{forwardedFor}, sent by
    a trusted proxy, name: the header is read from its end (each proxy
    appends to it) to the first address that is not a trusted proxy, what
    the last trusted proxy saw.  Where the header stops making sense (a
    word that is no address), the last address reached is the answer:
    what comes before it was written by the client.  C{None} if it names
    none.
    """
    hops = [
        hop
        for line in forwardedFor
        for hop in line.decode("latin-1").split(",")
        if hop.strip()
    ]
    current: Optional[Address] = None
    for hop in reversed(hops):
        try:
            current = _address(hop)
        except ValueError:
            break
        if not isTrusted(current, trusted):
            break
    return None if current is None else str(current)
