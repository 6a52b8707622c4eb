"""A throwaway certificate for serving HTTPS on loopback.

HTTPS matters for one reason here: botocore sends a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``)
only over TLS, so bearer-token clients need an ``https://`` endpoint.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Certificate:
    folder: str  # holds all three files; remove it when the server stops
    ca_bundle: str  # what clients trust (boto3: verify=..., or AWS_CA_BUNDLE)
    certfile: str
    keyfile: str

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def make_certificate(*hosts: str) -> Certificate:
    import trustme

    folder = tempfile.mkdtemp(prefix="bedrock-chaos-tls-")
    ca = trustme.CA()
    cert = ca.issue_cert(*(hosts or ("127.0.0.1",)), "localhost")
    paths = Certificate(folder, f"{folder}/ca.pem", f"{folder}/cert.pem", f"{folder}/key.pem")
    ca.cert_pem.write_to_path(paths.ca_bundle)
    cert.cert_chain_pems[0].write_to_path(paths.certfile)
    cert.private_key_pem.write_to_path(paths.keyfile)
    return paths
