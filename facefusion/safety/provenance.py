"""Content credentials (C2PA): a signed manifest inside the output that says how it was made.

With the operator's certificate and key (``--c2pa-cert``, ``--c2pa-key``), every JPEG, PNG, WebP, MP4 and
MOV output carries a manifest signed with them (c2pa-python, the Content Authenticity Initiative's own
library): an "opened" action on the target and an "edited" action with the IPTC digital source type.
The target is named as the parent ingredient by its SHA-256 only (no thumbnail of it is kept); the source
photos are never part of the manifest. ``read_credentials`` is what ``facefusion inspect`` reports.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError, storage_error
from ..inference.download import sha256_of

SIGNED_FORMATS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                  ".mp4": "video/mp4", ".mov": "video/quicktime"}
IPTC_TERMS = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# No thumbnail of the output or the target inside the manifest: the target is named by its hash.
SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True)
class Credentials:
    """The operator's signing certificate chain and private key (PEM), read once per run."""

    certificate: bytes
    key: bytes


def load_credentials(cert: str, key: str) -> Credentials:
    """Read and check the pair up front: a bad file is an error before any work, not after it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        credentials = Credentials(Path(cert).expanduser().read_bytes(), Path(key).expanduser().read_bytes())
    except OSError as error:
        raise InvalidInputError(f"--c2pa-cert/--c2pa-key: cannot read {error.filename}: {error.strerror}") from None
    try:
        chain = x509.load_pem_x509_certificates(credentials.certificate)
        private_key = serialization.load_pem_private_key(credentials.key, password=None)
    except ValueError:
        raise InvalidInputError("--c2pa-cert/--c2pa-key: give the certificate chain and an unencrypted private key "
                                "as PEM files") from None
    public = chain[0].public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise InvalidInputError("--c2pa-cert: the first certificate must hold a P-256 (ES256) key")
    if private_key.public_key().public_numbers() != public.public_numbers():  # type: ignore[union-attr]
        raise InvalidInputError("--c2pa-key: this key does not belong to the first certificate of --c2pa-cert")
    return credentials


def _signer(credentials: Credentials):
    import c2pa

    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.certificate,
                                                     credentials.key, None))


def sign_output(output: Path, credentials: Credentials, *, target: str, source_type: str | None,
                software: str) -> str | None:
    """Sign ``output`` in place. Returns a warning for a format C2PA cannot carry here (else None)."""
    import c2pa

    media_type = SIGNED_FORMATS.get(output.suffix.lower())
    if media_type is None:
        return (f"content credentials (C2PA) are written into jpg, png, webp, mp4 and mov outputs, not "
                f"{output.suffix}: this output is not signed")
    target_path = Path(target)
    target_type = SIGNED_FORMATS.get(target_path.suffix.lower(), "application/octet-stream")
    edited: dict[str, object] = {"action": "c2pa.edited", "softwareAgent": {"name": software},
                                 "description": "faces swapped or enhanced"}
    if source_type:
        edited["digitalSourceType"] = IPTC_TERMS + source_type
    manifest = {
        "claim_generator_info": [{"name": software}],
        "title": output.name,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["target"]}}, edited]}}],
        "ingredients": [{"title": target_path.name, "format": target_type, "relationship": "parentOf",
                         "label": "target", "instance_id": f"sha256:{sha256_of(target_path)}"}],
    }
    signed = output.with_name(f".{output.name}.signing")
    try:
        context = c2pa.Context(c2pa.Settings.from_json(json.dumps(SETTINGS)))
        with _signer(credentials) as signer, c2pa.Builder(manifest, context) as builder, \
                open(output, "rb") as source, open(signed, "w+b") as destination:
            builder.sign(signer, media_type, source, destination)
        os.replace(signed, output)
    except OSError as error:
        signed.unlink(missing_ok=True)
        raise storage_error(error, output, "sign the output") from None
    except c2pa.C2paError:
        signed.unlink(missing_ok=True)
        raise
    return None


def read_credentials(path: Path) -> dict[str, object] | None:
    """What the file's C2PA manifest says (None when it has none): validity, signer, actions, ingredients."""
    import c2pa

    if path.suffix.lower() not in SIGNED_FORMATS:
        return None
    try:
        with c2pa.Reader(str(path)) as reader:
            store, state = json.loads(reader.json()), reader.get_validation_state()
    except c2pa.C2paError:
        return None  # no manifest (or none this library can find)
    manifest = store["manifests"][store["active_manifest"]]
    signature = manifest.get("signature_info") or {}
    actions = [action for assertion in manifest.get("assertions", []) if assertion["label"].startswith("c2pa.actions")
               for action in assertion["data"].get("actions", [])]
    problems = [status.get("code") for status in store.get("validation_status", []) or []]
    return {
        "state": str(state),
        "signer": ", ".join(str(part) for part in (signature.get("common_name"), signature.get("issuer")) if part),
        "issues": problems,
        "actions": [str(action.get("action", "")).removeprefix("c2pa.") for action in actions],
        "digital_source_type": next((str(action["digitalSourceType"]).rsplit("/", 1)[-1] for action in actions
                                     if action.get("digitalSourceType")), None),
        "ingredients": [{"title": item.get("title"), "relationship": item.get("relationship"),
                         "instance_id": item.get("instance_id")} for item in manifest.get("ingredients", [])],
    }
