"""
The files in contrib/: the systemd unit is valid, and the container file
starts what the README says.
"""

from __future__ import annotations

import os
import shutil

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, TestCase

from .test_e2e import BIN, run

CONTRIB = FilePath(__file__).parent().parent().child("contrib")


class ContribTests(TestCase):
    """
    contrib/.
    """

    @inlineCallbacks
    def test_systemdUnit(self):  # type: ignore[no-untyped-def]
        """
        systemd-analyze verify accepts the unit (with ExecStart pointing at
        this environment's twistd).
        """
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            raise SkipTest("systemd-analyze is not installed here")
        unit = CONTRIB.child("cheesecache.service").getContent().decode()
        self.assertIn("/opt/cheesecache/bin/twistd", unit)
        target = FilePath(self.mktemp())
        target.makedirs()
        copy = target.child("cheesecache.service")
        copy.setContent(unit.replace("/opt/cheesecache/bin/twistd", os.path.join(BIN, "twistd")).encode())
        copy.chmod(0o644)  # systemd warns about executable unit files
        code, output = yield run([analyze, "verify", copy.path])
        self.assertEqual((code, output.strip()), (0, ""))

    def test_containerfile(self) -> None:
        """
        The container runs twistd cheesecache in the foreground on port
        3141 with its data in the volume.
        """
        text = CONTRIB.child("Containerfile").getContent().decode()
        self.assertIn('ENTRYPOINT ["twistd", "--nodaemon", "--pidfile=", "cheesecache"', text)
        self.assertIn("VOLUME /data", text)
        self.assertIn("EXPOSE 3141", text)
