"""
Tests for L{cheesecache.forwarded}: the client's address behind trusted
reverse proxies.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.forwarded import UNIX_PEERS, clientAddress, forwardedClient, parseNetwork

PROXIES = (parseNetwork("10.0.0.0/8"), parseNetwork("192.0.2.1"), parseNetwork("::1"))


class ClientAddressTests(SynchronousTestCase):
    """
    L{clientAddress}.
    """

    def test_untrustedPeer(self) -> None:
        """
        A peer that is not a trusted proxy is the client, whatever its
        C{X-Forwarded-For} says.
        """
        self.assertEqual(
            clientAddress("203.0.113.9", [b"198.51.100.1"], PROXIES), "203.0.113.9"
        )

    def test_trustedPeer(self) -> None:
        """
        From a trusted proxy, the client is the last address in the header
        that is not a trusted proxy: what the first trusted proxy saw.  What
        the client wrote before it is not believed.
        """
        self.assertEqual(
            clientAddress("192.0.2.1", [b"198.51.100.1"], PROXIES), "198.51.100.1"
        )
        self.assertEqual(
            clientAddress(
                "192.0.2.1", [b"6.6.6.6, 198.51.100.1, 10.1.2.3", b"10.9.9.9"], PROXIES
            ),
            "198.51.100.1",
        )
        # Every hop trusted: the first of them.
        self.assertEqual(clientAddress("192.0.2.1", [b"10.0.0.7,10.0.0.8"], PROXIES), "10.0.0.7")

    def test_notAnAddress(self) -> None:
        """
        Where the header holds a word that is no address, the last address
        reached before it is the client; with none, the peer.
        """
        self.assertEqual(
            clientAddress("192.0.2.1", [b"evil, 10.0.0.5"], PROXIES), "10.0.0.5"
        )
        self.assertEqual(clientAddress("192.0.2.1", [b"unknown"], PROXIES), "192.0.2.1")
        self.assertEqual(clientAddress("192.0.2.1", [b" , "], PROXIES), "192.0.2.1")

    def test_addressForms(self) -> None:
        """
        A peer given as an IPv4 address mapped into IPv6 (a dual-stack
        listener's) is matched as the IPv4 address; IPv6 hops may come in
        brackets, with a port.
        """
        self.assertEqual(
            clientAddress("::ffff:192.0.2.1", [b"198.51.100.1"], PROXIES), "198.51.100.1"
        )
        self.assertEqual(
            clientAddress("::1", [b"[2001:db8::5]:4711"], PROXIES), "2001:db8::5"
        )

    def test_addressWithPort(self) -> None:
        """
        An IPv4 hop with a port (C{198.51.100.1:4711}), as some proxies
        write it, is that address, as a bracketed IPv6 one with a port is:
        not the end of the header, which made the proxy itself the client
        of every request.
        """
        self.assertEqual(
            clientAddress("192.0.2.1", [b"198.51.100.1:4711"], PROXIES), "198.51.100.1"
        )
        self.assertEqual(
            clientAddress("192.0.2.1", [b"198.51.100.1:4711, 10.0.0.5:80"], PROXIES),
            "198.51.100.1",
        )

    def test_mappedProxy(self) -> None:
        """
        A trusted proxy given as an IPv4 address (or network) mapped into
        IPv6, as a dual-stack listener's access log names its peers, is
        that IPv4 proxy: the peer it is matched against is the IPv4 address.
        """
        for proxy in ("::ffff:192.0.2.1", "::ffff:192.0.2.0/120"):
            self.assertEqual(
                clientAddress("::ffff:192.0.2.1", [b"198.51.100.1"], (parseNetwork(proxy),)),
                "198.51.100.1",
            )
        self.assertEqual(str(parseNetwork("::ffff:10.0.0.0/104")), "10.0.0.0/8")
        self.assertEqual(str(parseNetwork("::ffff:0:0/95")), "::fffe:0:0/95")

    def test_UNIXPeers(self) -> None:
        """
        C{unix} stands for the peers of UNIX-socket listeners, which have no
        address: it contains none, and trusts only those.
        """
        self.assertIs(parseNetwork(" UNIX "), UNIX_PEERS)
        self.assertEqual(clientAddress("192.0.2.1", [b"198.51.100.1"], (UNIX_PEERS,)), "192.0.2.1")
        self.assertEqual(
            forwardedClient([b"198.51.100.1, 10.0.0.2"], (UNIX_PEERS, *PROXIES)), "198.51.100.1"
        )
        self.assertIsNone(forwardedClient([b"unknown"], (UNIX_PEERS,)))

    def test_parseNetwork(self) -> None:
        """
        An address or a network; anything else is refused, saying what.
        """
        self.assertEqual(str(parseNetwork(" 10.1.2.3/8 ")), "10.0.0.0/8")
        self.assertEqual(str(parseNetwork("::1")), "::1/128")
        with self.assertRaises(ValueError) as caught:
            parseNetwork("proxy.example")
        self.assertEqual(
            str(caught.exception), "'proxy.example' is not an IP address or network, nor unix"
        )
