"""Starting the real Swift host for the live tests: binaries from SEALSTREAM_BIN_DIR (as
scripts/test.sh exports) or `swift build --show-bin-path`; a missing binary fails with a
hint, never a skip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

VENUE = ROOT / "scripts" / "demo" / "venue.json"
SCENARIO = ROOT / "scripts" / "demo" / "scenario.txt"


def measured_policy(bins: Path, out: Path):
    """`attestation measure` of this build's enclave on the demo venue (software mode
    allowed), read as an `attest.Policy`."""
    from sealstream import attest

    subprocess.run([str(bins / "attestation"), "measure", "--enclave", str(bins / "sealstream-enclave"), "--config",
                    str(VENUE), "--allow-mode", "software", "--policy-out", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return attest.Policy.from_json(out.read_bytes())


def bin_dir() -> Path:
    d = os.environ.get("SEALSTREAM_BIN_DIR")
    if not d:
        d = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    path = Path(d)
    for exe in ("sealstream-host", "sealstream-enclave", "sealstream-client", "attestation"):
        if not (path / exe).exists():
            raise RuntimeError(f"{path / exe} is missing: run `swift build` first (or set SEALSTREAM_BIN_DIR)")
    return path


class Host:
    """`sealstream-host run` in software attestation mode on free ports (`extra`: more
    arguments, e.g. `--attestation swtpm --tcti …`)."""

    def __init__(self, bins: Path, data: Path, log: Path, listen: str = "127.0.0.1:0", extra: list[str] = (),
                 standby: bool = False, config: Path = VENUE):
        self.data = data
        # A host restarted on this data directory: the old host.json names the dead one.
        (data / "host.json").unlink(missing_ok=True)
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(bins / "sealstream-host"), "run", "--data-dir", str(data), "--listen", listen,
             "--http", "127.0.0.1:0", "--config", str(config), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, TSS2_LOG="all+none"),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            info = self._info()
            if info and info.get("enclavePid") and "listen" in info:
                break
            # A standby on the replicated journal (`standby`): its listeners answer
            # notPrimary until it takes over (docs/REPLICATION.md §8.1, §9).
            if standby and info and "standbyListen" in info:
                info = dict(info, listen=info["standbyListen"], http=info["standbyHttp"])
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"host did not come up; see {log}")
            time.sleep(0.05)
        self.address, self.http = info["listen"], info["http"]

    def _info(self) -> dict | None:
        try:
            return json.loads((self.data / "host.json").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> int:
        """SIGTERM and wait (the last batch is committed on the way out); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self.log.close()


class Swtpm:
    """A provisioned swtpm on a Unix socket (scripts/swtpm.sh, SWTPM_TRANSPORT=unix: the
    hardened enclave reaches no TCP port of the host). `info` is the script's JSON."""

    def __init__(self, directory: Path):
        self.directory = directory
        out = subprocess.run([str(ROOT / "scripts" / "swtpm.sh"), "start", str(directory)], capture_output=True, text=True,
                             env=dict(os.environ, SWTPM_TRANSPORT="unix"))  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"scripts/swtpm.sh start failed: {out.stderr.strip()}")
        self.info = json.loads(out.stdout.strip().splitlines()[-1])
        self.tcti, self.ek_roots = self.info["tcti"], Path(self.info["ekRoots"])

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "swtpm.sh"), "stop", str(self.directory)], capture_output=True)


class TLSProxy:
    """`scripts/tls-proxy.py` in front of a host's HTTP listener (`to`), as an operator
    serves the feed over `wss:` (MARKETDATA.md §6), with a self-signed P-256 certificate
    for 127.0.0.1 made by openssl in `directory`; `certificate` is the CA a client must be
    given to trust it. The Swift tests' TLSProxy (Tests/IntegrationTests) does the same."""

    def __init__(self, to: str, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.certificate = directory / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(directory / "key.pem"), "-out", str(self.certificate)],
                       check=True, capture_output=True)  # fmt: skip
        port_file = directory / "port"
        self.log = open(directory / "proxy.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "tls-proxy.py"), "--cert", str(self.certificate),
             "--key", str(directory / "key.pem"), "--to", to, "--port-file", str(port_file)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"scripts/tls-proxy.py did not start; see {directory / 'proxy.log'}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
