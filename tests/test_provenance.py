"""Content credentials (C2PA): outputs signed with a certificate the test makes, read back and validated."""
from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from facefusion.media.image import read_image, write_image
from facefusion.safety.provenance import read_credentials
from test_cli import run_cli


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio Test Operator")])


def _usage(signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                         crl_sign=not signing, encipher_only=False, decipher_only=False)


def make_signing_pair(folder: Path) -> tuple[Path, Path]:
    """A test CA and a P-256 signing certificate it issued (chain, key) as PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def builder(subject: str, issuer: str, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer)).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30)))

    ca = (builder("Studio Test CA", "Studio Test CA", ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_usage(signing=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (builder("Studio Test Signer", "Studio Test CA", key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert, private = folder / "signer.pem", folder / "signer.key"
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, private


@pytest.fixture(scope="module")
def signing_pair(tmp_path_factory) -> tuple[Path, Path]:
    return make_signing_pair(tmp_path_factory.mktemp("c2pa"))


def inspect_json(path: Path) -> dict:
    result = run_cli("inspect", path, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_image_outputs_carry_a_valid_manifest_naming_the_target_by_hash_only(tmp_path, generated, signing_pair,
                                                                             suffix):
    cert, key = signing_pair
    target = generated["grace_hopper"]
    output = tmp_path / f"out{suffix}"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", target, "-o", output,
                     "--c2pa-cert", cert, "--c2pa-key", key)
    assert result.returncode == 0, result.stderr
    assert "signed (C2PA)" in result.stderr
    report = inspect_json(output)
    assert report["marked"] is True
    credentials = report["c2pa"]
    assert credentials["state"] == "Valid"
    assert credentials["signer"] == "Studio Test Signer, Studio Test Operator"
    assert credentials["actions"] == ["opened", "edited"]
    assert credentials["digital_source_type"] == "composite"  # the embedded engine
    [ingredient] = credentials["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["instance_id"] == f"sha256:{hashlib.sha256(target.read_bytes()).hexdigest()}"
    # Nothing of the source photo is in the file: not its name, not its picture.
    assert b"astronaut" not in output.read_bytes()
    assert read_image(output).frame.shape == read_image(target).frame.shape


def test_the_readable_report_says_valid_and_who_signed(tmp_path, generated, signing_pair):
    cert, key = signing_pair
    output = tmp_path / "out.jpg"
    assert run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                   "--c2pa-cert", cert, "--c2pa-key", key).returncode == 0
    lines = run_cli("inspect", output).stdout.splitlines()
    c2pa_line = next(line for line in lines if line.startswith("c2pa:"))
    assert "valid (intact, signed); signer Studio Test Signer" in c2pa_line
    assert "actions: opened, edited" in c2pa_line


def test_a_changed_file_loses_its_credentials_and_an_unsigned_file_has_none(tmp_path, generated, signing_pair):
    cert, key = signing_pair
    output = tmp_path / "out.jpg"
    assert run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                   "--c2pa-cert", cert, "--c2pa-key", key).returncode == 0
    tampered = tmp_path / "tampered.jpg"
    data = bytearray(output.read_bytes())
    data[-200] ^= 0xFF  # a pixel byte of the picture, after the manifest
    tampered.write_bytes(bytes(data))
    state = read_credentials(tampered)
    assert state is not None and state["state"] != "Valid"
    resaved = write_image(tmp_path / "resaved.jpg", read_image(output).frame)
    assert read_credentials(resaved) is None
    assert read_credentials(generated["grace_hopper"]) is None


def test_a_video_output_is_signed(tmp_path, signing_pair):
    from sample_media import grace_hopper, make_clip

    cert, key = signing_pair
    clip = make_clip(tmp_path / "clip.mp4", frames=10, size=(480, 270), face_width=110)
    output = tmp_path / "out.mp4"
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", output, "--c2pa-cert", cert,
                     "--c2pa-key", key)
    assert result.returncode == 0, result.stderr
    credentials = read_credentials(output)
    assert credentials is not None and credentials["state"] == "Valid"
    assert credentials["ingredients"][0]["title"] == "clip.mp4"
    import av

    with av.open(str(output)) as container:  # still a playable video with its sound
        assert container.streams.audio and sum(1 for _ in container.decode(video=0)) == 10


def test_a_format_without_c2pa_is_said_and_a_bad_key_stops_before_any_work(tmp_path, signing_pair):
    from sample_media import grace_hopper, make_clip

    cert, key = signing_pair
    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(320, 180), face_width=80, audio=False)
    output = tmp_path / "out.mkv"
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", output, "--c2pa-cert", cert,
                     "--c2pa-key", key)
    assert result.returncode == 0, result.stderr
    assert "not .mkv: this output is not signed" in result.stderr
    other_key = tmp_path / "other.key"
    other_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    refused = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", tmp_path / "out.mp4", "--c2pa-cert",
                      cert, "--c2pa-key", other_key)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: --c2pa-key: this key does not belong to the first certificate of "
                                      "--c2pa-cert")
    assert not (tmp_path / "out.mp4").exists()
    alone = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", tmp_path / "out.mp4", "--c2pa-cert", cert)
    assert alone.returncode == 2 and "go together" in alone.stderr
