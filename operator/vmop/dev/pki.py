"""Credentials of a local control plane: a CA, the apiserver's serving cert, the service-account
key pair, the static token file and an admin kubeconfig.

Generated with the ``openssl`` CLI so the project needs no crypto package. A throwaway CA signs
the serving cert (rather than one self-signed leaf) because that is the shape every TLS client
accepts without special cases, and kube-controller-manager publishes the CA to namespaces as
``kube-root-ca.crt`` like on a real cluster.
"""

from __future__ import annotations

import csv
import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

# The apiserver is reached as 127.0.0.1 from here, and as the kubernetes Service from inside the
# cluster (the first address of the service range, see controlplane.SERVICE_CLUSTER_IP_RANGE).
SERVING_NAMES = (
    "IP:127.0.0.1",
    "DNS:localhost",
    "IP:10.0.0.1",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)

# An explicit config, so the result does not depend on the distribution's openssl.cnf.
OPENSSL_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {",".join(SERVING_NAMES)}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
DAYS = "3650"


class PkiError(RuntimeError):
    """openssl failed; the message carries its output."""


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_public_key: Path


@dataclass(frozen=True)
class TokenUser:
    """One line of the apiserver's ``--token-auth-file``."""

    name: str
    token: str
    groups: tuple[str, ...] = ()


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed (exit {proc.returncode}): {proc.stderr.strip()}")


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = directory / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        service_account_key=directory / "sa.key",
        service_account_public_key=directory / "sa.pub",
    )
    _openssl(
        "req",
        "-x509",
        "-config",
        str(config),
        "-extensions",
        "ca",
        *EC_KEY,
        "-keyout",
        "ca.key",
        "-out",
        pki.ca_cert.name,
        "-days",
        DAYS,
        "-subj",
        "/CN=vmop-dev-ca",
        cwd=directory,
    )
    _openssl(
        "req",
        "-new",
        "-config",
        str(config),
        *EC_KEY,
        "-keyout",
        pki.serving_key.name,
        "-out",
        "serving.csr",
        "-subj",
        "/CN=kube-apiserver",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "serving.csr",
        "-CA",
        pki.ca_cert.name,
        "-CAkey",
        "ca.key",
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        DAYS,
        "-extfile",
        str(config),
        "-extensions",
        "serving",
        "-out",
        pki.serving_cert.name,
        cwd=directory,
    )
    # RSA for service-account tokens: RS256 is what every token consumer supports.
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        pki.service_account_key.name,
        cwd=directory,
    )
    _openssl(
        "pkey",
        "-in",
        pki.service_account_key.name,
        "-pubout",
        "-out",
        pki.service_account_public_key.name,
        cwd=directory,
    )
    return pki


def write_token_file(path: Path, users: Iterable[TokenUser]) -> None:
    """The static token file format: ``token,user,uid,"group1,group2"``; the uid is the name."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        for user in users:
            writer.writerow([user.token, user.name, user.name, ",".join(user.groups)])
    path.chmod(0o600)


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, user: str, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "vmop-dev", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "vmop-dev", "context": {"cluster": "vmop-dev", "user": user}}],
        "current-context": "vmop-dev",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
