# -*- test-case-name: tests.test_tap -*-
"""
C{twistd cheesecache}: command-line options and the service they make.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import sys
from typing import Any, Callable, List, Optional, Tuple

from twisted.application import service, strports
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.filepath import FilePath

from .config import (
    DURATIONS,
    PIP_INDEX_KEY,
    PRIVATE,
    Config,
    ConfigError,
    UpstreamConfig,
    checkRoutes,
    checkedMegabytes,
    checkedSeconds,
    loadConfig,
    upstreamNames,
)
from .forwarded import parseNetwork
from .memory import limitArenas
from .openfiles import raiseOpenFileLimit
from .outbound import Outbound, QuietConnectionPool, netrcAuthorization
from .pipconfig import NoDefaultIndex, PipSettings

log = Logger()

#: Seconds a thread holds the GIL while another waits for it.  Pool threads
#: write, hash and compress beside the reactor, and each batch of a cold
#: file needs the GIL a few times to go on; with Python's default of 5 ms a
#: batch waited behind every slice of page parsing, and uv, which reads a
#: cold wheel's metadata before it asks for the next pages, waited with it.
#: At 1 ms, uv installing requests, twisted and treq through a fresh
#: cheesecache took 0.390 s instead of 0.426, and 0.404 instead of 0.415 in
#: a second series (medians of 12 alternated installs each; nginx 0.213);
#: the cold 83 MB wheel streamed as fast.
SWITCH_INTERVAL = 0.001


def defaultDataDir() -> str:
    """
    Where cached pages and files live unless C{--data-dir} says otherwise.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "cheesecache")


class Options(usage.Options):
    """
    Options of C{twistd cheesecache}.  Flags override the C{--config} file.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve a Python package index (PEP 503/691) that caches the upstream"
        " indexes given with --upstream (default: the index pip is configured"
        " to use)."
    )

    optFlags = [
        ["offline", None, "Serve only what is cached; never contact upstreams."],
        ["read-auth", None, "Reads need credentials too (needs --users)."],
    ]
    optParameters = [
        ["config", "c", None, "A TOML configuration file (flags override it)."],
        ["log-format", None, None, "text (default) or json: structured events, one JSON object a line."],
        ["max-cache-size", None, None, "Evict least recently used upstream files and rendered pages beyond this size of cache (e.g. 10G; default: no limit)."],
        ["data-dir", "d", None, "Directory for cached pages and files (default: $XDG_CACHE_HOME/cheesecache, else ~/.cache/cheesecache)."],
        ["index-ttl", None, None, "Seconds an upstream page stays fresh (default 600).", float],
        ["upstream-patience", None, None, "Seconds a client waits for an upstream to revalidate a stale page before it gets the cached copy; the upstream's answer still updates the cache (default 3).", float],
        ["upstream-timeout", None, None, "Seconds an upstream may take to accept a connection, and then to answer a request with its headers, before the request counts as failed (default 30).", float],
        ["users", "u", None, "An htpasswd file of bcrypt hashes (htpasswd -B): who may upload."],
        ["max-upload-size", None, None, "Largest file accepted for upload, in megabytes (default 100).", float],
        ["ca-bundle", None, None, "A PEM bundle of the certificate authorities HTTPS upstreams are checked against, instead of the system's (default: pip's cert setting, unless SSL_CERT_FILE or SSL_CERT_DIR is set)."],
        ["client-cert", None, None, "A PEM file holding a client certificate and its private key, shown to HTTPS upstreams that ask for one (default: pip's client-cert setting)."],
        ["proxy", None, None, "An HTTP proxy for the upstreams, http(s)://[user:pass@]host:port (default: pip's proxy setting, then HTTPS_PROXY / HTTP_PROXY / ALL_PROXY; NO_PROXY names hosts reached directly)."],
    ]

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self["listen"] = []
        self["upstream"] = []
        self["trusted-host"] = []
        self["trusted-proxy"] = []

    def opt_listen(self, endpoint: str) -> None:
        """
        Listen on this endpoint (repeatable; default tcp:3141).
        """
        self["listen"].append(endpoint)

    def opt_upstream(self, url: str) -> None:
        """
        An upstream index URL (repeatable, in order of preference).
        """
        self["upstream"].append(url)

    def opt_trusted_host(self, host: str) -> None:
        # One line: --help shows the docstring as it is, indentation and all.
        """An HTTPS host (or host:port) whose certificate is not checked, as pip's trusted-host (repeatable; default: pip's trusted-host setting)."""
        self["trusted-host"].append(host)

    def opt_trusted_proxy(self, network: str) -> None:
        """A reverse proxy (address, network, or unix for a unix: listener's peers) whose X-Forwarded-For names the client, for logs and the login throttle (repeatable; default: none)."""
        self["trusted-proxy"].append(network)

    def postOptions(self) -> None:
        try:
            config = loadConfig(self["config"]) if self["config"] else Config()
            self._merge(config)
        except ConfigError as e:
            raise usage.UsageError(str(e))

    def _merge(self, config: Config) -> None:
        # What pip on this machine would use, for what is not given.
        pip = PipSettings()
        if not self["listen"]:
            self["listen"] = list(config.listen or ["tcp:3141"])
        for description in self["listen"]:
            checkListen(description)
        if not self["data-dir"]:
            self["data-dir"] = config.dataDir or defaultDataDir()
        checkDataDir(self["data-dir"])
        for key, attribute, mayBeZero, default in DURATIONS:
            if self[key] is None:
                configured = getattr(config, attribute)
                self[key] = configured if configured is not None else default
            self[key] = checkedSeconds(self[key], "--" + key, mayBeZero)
        self["offline"] = bool(self["offline"] or config.offline)
        if not self["users"]:
            self["users"] = config.users
        if self["users"] and not os.path.isfile(self["users"]):
            raise ConfigError(f"--users: no such file: {self['users']}")
        self["read-auth"] = bool(self["read-auth"] or config.readAuth)
        if self["read-auth"] and not self["users"]:
            raise ConfigError("--read-auth: needs a users file (--users FILE)")
        self["permissions"] = config.permissions
        if self["max-cache-size"] is None:
            self["max-cache-size"] = config.maxCacheSize
        if self["max-cache-size"] is not None:
            from .eviction import parseSize

            try:
                self["max-cache-size"] = parseSize(str(self["max-cache-size"]))
            except ValueError as e:
                raise ConfigError(f"--max-cache-size: {e}")
            if self["max-cache-size"] <= 0:
                raise ConfigError("--max-cache-size: must be positive")
        if self["log-format"] is None:
            self["log-format"] = config.logFormat or "text"
        if self["log-format"] not in ("text", "json"):
            raise ConfigError("--log-format: must be text or json")
        if self["max-upload-size"] is None:
            self["max-upload-size"] = config.maxUploadSize or 100.0
        self["max-upload-size"] = checkedMegabytes(self["max-upload-size"], "--max-upload-size")
        upstreams: List[UpstreamConfig]
        if self["upstream"]:
            upstreams = list(upstreamNames(self["upstream"]))
        elif config.upstreams is not None:
            upstreams = list(config.upstreams)
        else:
            try:
                upstreams = list(upstreamNames([pip.indexURL()], PIP_INDEX_KEY))
            except NoDefaultIndex as e:
                raise ConfigError(str(e))
        self["upstreams"] = upstreams
        self["outbound"] = Outbound.fromSettings(
            pip,
            proxy=self["proxy"] or config.proxy,
            bundle=self["ca-bundle"] or config.caBundle,
            cert=self["client-cert"] or config.clientCert,
            trusted=self["trusted-host"] or config.trustedHosts,
        )
        checkRoutes(config.routes, [PRIVATE, *(u.name for u in upstreams)])
        self["routes"] = config.routes
        try:
            self["trusted-proxies"] = tuple(
                parseNetwork(n) for n in self["trusted-proxy"] or config.trustedProxies
            )
        except ValueError as e:
            raise ConfigError(f"--trusted-proxy: {e}")


def checkDataDir(path: str) -> None:
    """
    Refuse a data directory the server could not make, or not write in,
    with a message, rather than a traceback as it starts (its first write
    is at start).  What is not there yet is made when the server starts.

    @raise ConfigError: C{path} is a file, or a file is where one of its
        parents would be, or the server may not write in it (or in the
        parent it would be made in).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"--data-dir: not a directory: {path}")
    # The nearest of it and its parents that is there.
    existing = os.path.abspath(path)
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"--data-dir: cannot make {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--data-dir: {existing}: permission denied (not writable)")


def runAs(options: usage.Options) -> Optional[Tuple[int, int]]:
    """
    The user and group twistd runs the server as once it has started
    (C{twistd --uid --gid}; C{-1} for either it leaves as it is), when
    they are given and this process, making the service, is root.
    """
    parent = getattr(options, "parent", None)
    if parent is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    uid, gid = parent.get("uid"), parent.get("gid")
    if uid is None and gid is None:
        return None
    if uid is not None and gid is None:
        # twistd's default: the user's own group.
        import pwd

        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            pass
    return (-1 if uid is None else uid, -1 if gid is None else gid)


def makeDataDir(dataDir: FilePath, owner: Optional[Tuple[int, int]]) -> None:
    """
    Make the data directory if it is not there, and give it to C{owner}
    (see L{runAs}): the service is made before twistd switches to that
    user, who must write in it.
    """
    if dataDir.isdir():
        return
    dataDir.makedirs(ignoreExistingDirectory=True)
    if owner is not None:
        os.chown(dataDir.path, *owner)


def instancePseudonym(dataDir: FilePath, owner: Optional[Tuple[int, int]] = None) -> str:
    """
    This cheesecache's pseudonym in C{Via} headers: random, kept in the data
    directory so it survives restarts.

    @param owner: who the file is given to if it is made (see L{runAs}).
    """
    path = dataDir.child("instance-id")
    try:
        value = path.getContent().decode("ascii").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = "cheesecache-" + secrets.token_hex(6)
    from .pagestore import atomicWrite

    atomicWrite(path, value.encode("ascii") + b"\n")
    if owner is not None:
        os.chown(path.path, *owner)
    return value


class CheesecacheService(service.MultiService):
    """
    The whole server: its listening ports, background jobs, and the
    upstream connection pool.

    On stop (SIGTERM) the ports close first, then downloads in progress get
    C{drainTimeout} seconds to finish, and whatever is still running is
    cancelled, leaving no partial file.  Within the same time, responses
    being sent are let finish (a client reading slower than the upstream
    sends, or sent a cached file, would otherwise get part of it), and
    every connection is closed once its response is done.
    """

    def __init__(
        self,
        pool: Any,
        fetcher: Any = None,
        logObserver: Any = None,
        drainTimeout: float = 30.0,
        prepareProcess: Callable[[], object] = lambda: None,
        site: Any = None,
        clock: Any = None,
    ) -> None:
        """
        @param prepareProcess: called once as the server starts (under
            twistd, once it has daemonized and dropped privileges):
            process-wide settings such as the open files limit.
        @param site: the L{cheesecache.web.channel.GuardedSite} whose
            connections are closed once done, on stop.
        @param clock: times the stop (default: the global reactor).
        """
        service.MultiService.__init__(self)
        self.pool = pool
        self.fetcher = fetcher
        self.logObserver = logObserver
        self.drainTimeout = drainTimeout
        self.prepareProcess = prepareProcess
        self.site = site
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock

    def startService(self) -> None:
        self.prepareProcess()
        service.MultiService.startService(self)

    def setServiceParent(self, parent: Any) -> None:
        # twistd uses an ILogObserver component of its application, if any.
        if self.logObserver is not None and hasattr(parent, "setComponent"):
            from twisted.logger import ILogObserver

            parent.setComponent(ILogObserver, self.logObserver)
        service.MultiService.setServiceParent(self, parent)

    def stopService(self) -> "Deferred[None]":
        deadline = self.clock.seconds() + self.drainTimeout
        d = service.MultiService.stopService(self)
        if self.fetcher is not None:
            d.addCallback(lambda _: self.fetcher.drain(self.drainTimeout))
        if self.site is not None:
            d.addCallback(lambda _: self._closeConnections(deadline))
        d.addCallback(lambda _: self.pool.closeCachedConnections())
        flush = getattr(self.logObserver, "flush", None)
        if flush is not None:
            d.addBoth(lambda result: (flush(), result)[1])
        return d

    def _closeConnections(self, deadline: float) -> "Deferred[None]":
        """
        Close the site's connections once their responses are sent; those
        still sending at C{deadline} are left to be cut as the process
        exits.
        """
        done: "Deferred[None]" = Deferred()

        def finish(_: object = None) -> None:
            if not done.called:
                done.callback(None)

        busy = sum(1 for channel in self.site.channels if channel.requests)
        closing = self.site.closeConnections()
        if busy:
            log.info("Waiting for {n} responses being sent", n=busy)
        timer = self.clock.callLater(max(0.0, deadline - self.clock.seconds()), finish)
        closing.addCallback(finish)
        done.addCallback(lambda _: timer.cancel() if timer.active() else None)
        return done


def inThreads(reactor: Any) -> Any:
    """
    A function that runs a blocking call in C{reactor}'s thread pool and
    returns a L{Deferred} of its result.
    """
    from twisted.internet.threads import deferToThreadPool

    def run(f: Any, *args: Any) -> Deferred:
        return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

    return run


def checkListen(description: str) -> None:
    """
    Refuse an endpoint description that does not make an endpoint (an
    unknown type, a port that is not a number, a missing or unreadable
    certificate, a socket systemd did not pass, a UNIX socket in no
    directory) with a message, rather than a traceback at start.

    @raise ConfigError: C{description} makes no endpoint.
    """
    from OpenSSL import SSL, crypto
    from twisted.internet import reactor
    from twisted.internet.error import VerifyError

    try:
        endpoint = endpoints.serverFromString(reactor, description)
    except (ValueError, TypeError, OSError) as e:
        raise ConfigError(f"--listen {description}: {e}") from None
    except LookupError:
        # A systemd endpoint's index or name of no socket systemd passed
        # (none, when not started by a socket unit): a bare IndexError or
        # KeyError.
        raise ConfigError(f"--listen {description}: systemd passed no such socket") from None
    except (crypto.Error, SSL.Error, VerifyError) as e:
        # A certificate or key file that is there, but is not PEM or not
        # a pair: OpenSSL's own errors, which the above do not include.
        raise ConfigError(
            f"--listen {description}: its certificate or key cannot be used: {e}"
        ) from None
    if isinstance(endpoint, endpoints.UNIXServerEndpoint):
        # Only bind() (or its lock file's symlink) finds out, with a
        # traceback as the server starts.
        path = endpoint._address
        if not path:
            raise ConfigError(f"--listen {description}: no socket path")
        directory = os.path.dirname(os.path.abspath(path))
        if not path.startswith("\0") and not os.path.isdir(directory):
            raise ConfigError(f"--listen {description}: no directory {directory}")
    # The TCP and SSL endpoints take any number as their port, and only
    # bind() refuses it, with a traceback as the server starts.
    port = getattr(endpoint, "_port", None)
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise ConfigError(f"--listen {description}: port {port} is not in 0-65535")


def logObserver(options: Options, reactor: Any) -> Any:
    """
    The observer for twistd's log, writing where twistd would write its
    text log (C{--logfile}, rotated as twistd does; standard output for
    C{-} or in the foreground), as text or JSON (C{--log-format}), in
    batches (see L{cheesecache.logs}).
    """
    from twisted.python.logfile import LogFile

    from .logs import BufferedLogObserver

    parent = getattr(options, "parent", None)
    logfile = parent.get("logfile") if parent is not None else None
    nodaemon = parent.get("nodaemon") if parent is not None else True
    syslog = parent.get("syslog") if parent is not None else False
    if syslog:
        return None  # twistd's syslog observer, as asked
    toFile = not (logfile == "-" or (not logfile and nodaemon))
    out: Any = sys.stdout
    if toFile:
        out = LogFile.fromFullPath(os.path.abspath(logfile or "twistd.log"))
    observer = BufferedLogObserver(
        out, reactor.callLater, lambda: bool(reactor.running),
        json=options["log-format"] == "json", callFromThread=reactor.callFromThread,
    )
    if toFile:
        rotateOnSignal(observer, reactor)
    return observer


def rotateOnSignal(observer: Any, reactor: Any, signum: int = signal.SIGUSR1) -> None:
    """
    Rotate C{observer}'s log file on C{signum}, as twistd rotates its own
    log file on SIGUSR1 (which log rotation set up for twistd sends): twistd
    does not when the application brings its observer, and the signal's
    default would end the server.  A handler already set is left alone.
    """
    if signal.getsignal(signum) not in (signal.SIG_DFL, None):
        return

    def rotate(signum: int, frame: Any) -> None:
        # The handler runs between two bytecodes of the main thread, maybe
        # in the middle of writing a line: the rotation waits for the reactor.
        reactor.callFromThread(observer.rotate)

    signal.signal(signum, rotate)


def makeService(options: Options, reactor: Optional[Any] = None) -> service.IService:
    """
    Build the service described by C{options}.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    # Before any thread allocates: pool threads would otherwise each keep
    # freed memory in an arena of their own.
    limitArenas()
    sys.setswitchinterval(SWITCH_INTERVAL)
    from twisted.cred.portal import Portal

    from .auth import Authenticator, Credentials, Realm, Throttle
    from .config import mayUpload, servedPrivately
    from .tokens import TokenChecker, TokenStore
    from .blobstore import BlobStore
    from .eviction import AccessLog, Evictor
    from .private import PrivateStore
    from .privatesource import PrivateSource
    from .uploadcheck import UploadPolicy, formatLimit
    from .users import HtpasswdChecker
    from .filefetch import FileFetcher
    from .freshness import Policy
    from .index import Index, UpstreamSource
    from .metadata import MetadataService, scanMetadata
    from .pagestore import PageStore
    from .upstream import ChainedRedirectAgent, Upstream
    from .web.site import makeRoot, makeSite
    from .web.status import Status

    dataDir = FilePath(os.path.abspath(options["data-dir"]))
    owner = runAs(options)
    makeDataDir(dataDir, owner)
    pseudonym = instancePseudonym(dataDir, owner)
    pool = QuietConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 16
    outbound: Outbound = options["outbound"]
    if outbound.caBundle:
        log.info("HTTPS upstreams are checked against {path}", path=outbound.caBundle)
    if outbound.clientCert:
        log.info(
            "HTTPS upstreams that ask for a client certificate get the one in {path}",
            path=outbound.clientCert,
        )
    for trusted in outbound.trusted:
        log.warn(
            "The certificate of {host} is not checked (a trusted host): anyone"
            " between could read or change what it sends",
            host=str(trusted),
        )
    agent = outbound.agent(reactor, pool, connectTimeout=options["upstream-timeout"])
    proxies = outbound.proxies
    if not options["offline"] and (proxies.http or proxies.https):
        log.info("Proxies for the upstreams: {proxies}", proxies=proxies.describe())
    pages = PageStore(dataDir.child("pages"))
    policy = Policy(ttl=options["index-ttl"], patience=options["upstream-patience"])
    sources: List[UpstreamSource] = []
    for configured in options["upstreams"]:
        upstream = Upstream.fromURL(
            configured.url, ChainedRedirectAgent(agent), reactor, pseudonym=pseudonym,
            connectTimeout=options["upstream-timeout"],
        )
        if upstream.authorization is None:
            upstream.authorization, netrcFile = netrcAuthorization(upstream.url, os.environ)
            if netrcFile is not None:
                log.info(
                    "Upstream {name}: credentials from {path}", name=configured.name, path=netrcFile
                )
        sources.append(
            UpstreamSource(
                upstream, pages, reactor, policy, name=configured.name,
                offline=options["offline"],
            )
        )
        log.info(
            "Upstream {name}: {url}{offline}", name=configured.name, url=upstream.url,
            offline=" (offline: not contacted)" if options["offline"] else "",
        )
    for source in sources:
        source.trimStored()
    store = BlobStore(dataDir)
    store.cleanTemporary()
    maxUpload = int(options["max-upload-size"] * 1024 * 1024)
    permissions = options["permissions"]
    routes = options["routes"]
    private = PrivateStore(
        dataDir, store, reactor,
        UploadPolicy(
            maxFileSize=maxUpload,
            mayUpload=lambda user, name: mayUpload(permissions, user, name),
            servedPrivately=lambda name: servedPrivately(routes, name),
        ),
    )
    privateSource = PrivateSource(private, reactor)
    index = Index([privateSource, *sources], options["routes"])

    def changed(name: str) -> None:
        privateSource.forget(name)
        index.forgetRendered(name)

    private.subscribe(changed)
    authenticator = None
    if options["users"]:
        tokens = TokenStore(dataDir.child("tokens.json"))
        passwords = HtpasswdChecker(
            FilePath(os.path.abspath(options["users"])), reactor,
            reactor.getThreadPool(), reactor,
        )
        # Read now, so that what is wrong with the file is logged at start.
        passwords.users()
        checker = Credentials(passwords, TokenChecker(tokens, passwords.hasUser))
        authenticator = Authenticator(Portal(Realm(tokens), [checker]), Throttle(reactor))
        log.info(
            "Uploads{reads} need credentials from {path}",
            reads=" and reads" if options["read-auth"] else "", path=options["users"],
        )
    else:
        log.info("No --users file: uploads are disabled")
    fetcher = FileFetcher(store, reactor, blocking=inThreads(reactor))
    evictor = accessLog = None
    if options["max-cache-size"]:
        evictor = Evictor(dataDir, options["max-cache-size"], reactor, reactor.getThreadPool())
        accessLog = AccessLog(store, reactor)
        fetcher.onStored = evictor.noteAdded
        log.info("Cache limited to {size} bytes", size=options["max-cache-size"])
    status = Status(index.sources, fetcher, private=private, evictor=evictor)
    metadata = MetadataService(store, reactor, blocking=inThreads(reactor))
    reactor.callWhenRunning(scanMetadata, metadata.known, inThreads(reactor))
    if evictor is not None:
        evictor.onRemoved = lambda keys: [metadata.known.discard(k) for k in keys]
    root = makeRoot(
        index,
        store,
        fetcher,
        metadata,
        pseudonym,
        private=private,
        authenticator=authenticator,
        reactor=reactor,
        readAuth=options["read-auth"],
        status=status,
        accessLog=accessLog,
    )
    # Room for the form fields around the largest file.
    observer = logObserver(options, reactor)
    site = makeSite(
        root, status, observer, maxBodySize=maxUpload + 1024 * 1024,
        bigBodyRefusal=f"File too large. Limit for uploads is {formatLimit(maxUpload)}.",
        trustedProxies=options["trusted-proxies"],
    )
    top = CheesecacheService(
        pool, fetcher, observer, prepareProcess=functools.partial(raiseOpenFileLimit, reactor),
        site=site, clock=reactor,
    )
    if evictor is not None:
        evictor.setServiceParent(top)
    for description in options["listen"]:
        # strports' services raise when they cannot listen, so twistd stops
        # with the error rather than run on with no port at all.
        strports.service(description, site, reactor).setServiceParent(top)
    log.info("Data directory: {path}; Via pseudonym {pseudonym}", path=dataDir.path, pseudonym=pseudonym)
    return top
