"""The committed profiles and test PKI: every certificate chain is recovered
with the independent checker (odacheck), every fact in a profile's summary is
checked against the bytes the card returns."""

from __future__ import annotations

import itertools
import json
from importlib import resources
from pathlib import Path

import pytest

from base import tlv
from simulators.devices import ProfileError, list_profiles, load_profile, load_profile_file
from simulators.devices.pki import load_ca_keys, load_issuer_keys, load_scheme_test_ca_keys
from simulators.devices.profile import Application, Profile
from tests.simulators.devices import odacheck
from tests.simulators.devices.terminal import ca_keys
from tests.vectors import vector_text

REQUIRED = {
    "default",
    "sda",
    "dda",
    "cda",
    "mir",
    "expired",
    "blocked",
    "pin-blocked",
    "two-apps",
    "signature",
    "corrupt-icc-cert",
}
APPS = [(name, i) for name in list_profiles() for i in range(len(load_profile(name).applications))]


def luhn_ok(pan: str) -> bool:
    digits = [int(d) for d in reversed(pan)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def test_required_profiles_exist() -> None:
    assert set(list_profiles()) >= REQUIRED


def test_profile_names_are_rejected_safely() -> None:
    for name in ("../default", "Default", "", "no-such-card"):
        with pytest.raises(ProfileError):
            load_profile(name)


def test_malformed_profiles(tmp_path: Path) -> None:
    good = load_profile("sda").to_json()
    cases = [
        {**good, "format": 2},
        {**good, "applications": []},
        {**good, "applications": [{**good["applications"][0], "aid": "A0"}]},
        {**good, "applications": [{**good["applications"][0], "pin": "12"}]},
        {**good, "applications": [{**good["applications"][0], "files": {"1": ["70FF"]}}]},
        {**good, "applications": [{**good["applications"][0], "risk": {"nonsense": 1}}]},
        {**good, "pse": {"name": "zz"}},
    ]
    for i, doc in enumerate(cases):
        path = tmp_path / f"p{i}.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(ProfileError):
            load_profile_file(path)
    with pytest.raises(ProfileError):
        load_profile_file(tmp_path / "missing.json")


@pytest.mark.parametrize("name", list_profiles())
def test_round_trip_and_test_only_marking(name: str) -> None:
    profile = load_profile(name)
    raw = (resources.files("simulators.devices.profiles") / f"{name}.json").read_text(
        encoding="utf-8"
    )
    assert "TEST ONLY" in raw
    assert Profile.from_json(profile.to_json()).to_json() == profile.to_json()
    assert json.loads(raw) == profile.to_json()


def _app(name: str, index: int) -> tuple[Profile, Application, dict[str, object]]:
    profile = load_profile(name)
    summary = profile.summary["applications"][index]  # type: ignore[index]
    return profile, profile.applications[index], summary


@pytest.mark.parametrize(("name", "index"), APPS)
def test_summary_matches_personalisation(name: str, index: int) -> None:
    profile, app, summary = _app(name, index)
    assert app.pan == summary["pan"] and luhn_ok(app.pan)
    assert app.psn == summary["psn"]
    assert app.aid.hex().upper() == summary["aid"]
    assert app.label == summary["label"]
    assert app.data[0x5F24].hex() == summary["expiry"]
    assert app.aip.hex().upper() == summary["aip"]
    assert app.cryptogram_version.name == summary["cryptogram_version"]
    cvm = app.data.get(0x8E, bytes(8))[8:]
    assert [cvm[i : i + 2].hex().upper() for i in range(0, len(cvm), 2)] == [
        rule[:4]
        for rule in summary["cvm_list"]  # type: ignore[attr-defined]
    ]
    if summary["iac"] is None:  # qVSDC: no issuer action codes on the card
        assert 0x9F0D not in app.data and app.qvsdc
    else:
        assert app.data[0x9F0D].hex().upper() == summary["iac"]["default"]  # type: ignore[index]
    assert app.pin == summary["pin"]
    # the track 2 equivalent agrees with the PAN and expiry
    track2 = app.data[0x57].hex().upper()
    assert track2.startswith(f"{app.pan}D{app.data[0x5F24].hex()[:4]}")
    if profile.pse is not None:
        entries = [
            {c.tag: c.value for c in obj.children()}
            for ddf in (profile.pse, *profile.ddfs)
            for record in ddf.records
            for obj in tlv.decode(record)[0].children()
        ]
        assert app.aid in [e.get(0x4F) for e in entries]
        ddf_names = {e[0x9D] for e in entries if 0x9D in e}
        assert ddf_names == {d.name for d in profile.ddfs}
    if profile.ppse is not None:
        # Book B 3.3.2.4: the PPSE FCI lists every application with its kernel
        directory = tlv.find(profile.ppse.fci, 0xBF0C)
        assert directory is not None
        entries = [{c.tag: c.value for c in e.children()} for e in tlv.decode(directory)]
        entry = next(e for e in entries if e[0x4F] == app.aid)
        kernel_id = summary["contactless"]["kernel_id"]  # type: ignore[index]
        assert entry[0x9F2A].hex().upper() == kernel_id


@pytest.mark.parametrize(("name", "index"), APPS)
def test_icc_master_keys_come_from_the_issuer_file(name: str, index: int) -> None:
    _profile, app, _summary = _app(name, index)
    entry = load_issuer_keys().card(app.pan, app.psn)
    assert entry is not None and entry.profile == name
    assert entry.version is app.cryptogram_version
    assert entry.keys.derive(app.pan, app.psn) == app.icc_master_keys
    assert load_issuer_keys().issuer_for_pan(app.pan) == entry.keys


def _records(app: Application) -> dict[int, list[bytes]]:
    return {sfi: list(records) for sfi, records in app.files.items()}


@pytest.mark.parametrize(("name", "index"), APPS)
def test_certificate_chain(name: str, index: int) -> None:
    _profile, app, summary = _app(name, index)
    data = app.data
    oda = summary["oda"]
    rid = app.aid[:5].hex().upper()
    ca = ca_keys()[(rid, data[0x8F].hex().upper())]
    issuer, expiry = odacheck.issuer_key(ca, data[0x90], data.get(0x92, b""), data[0x9F32], app.pan)
    assert expiry.hex() == oda["issuer_cert_expiry"]  # type: ignore[index]
    assert len(issuer.modulus) * 8 == oda["issuer_key_bits"]  # type: ignore[index]
    static = odacheck.static_data(_records(app), app.afl, app.aip, data[0x9F4A])
    if oda["method"] == "SDA":  # type: ignore[index]
        assert odacheck.ssad_dac(issuer, data[0x93], static).hex().upper() == oda["dac"]  # type: ignore[index]
        assert app.icc_key is None
        return
    if oda["icc_cert_corrupt"]:  # type: ignore[index]
        with pytest.raises(odacheck.OdaCheckError):
            odacheck.icc_key(
                issuer, data[0x9F46], data.get(0x9F48, b""), data[0x9F47], app.pan, static
            )
        return
    icc, icc_expiry = odacheck.icc_key(
        issuer, data[0x9F46], data.get(0x9F48, b""), data[0x9F47], app.pan, static
    )
    assert icc_expiry.hex() == oda["icc_cert_expiry"]  # type: ignore[index]
    assert app.icc_key is not None
    assert int.from_bytes(icc.modulus, "big") == app.icc_key.modulus
    assert int.from_bytes(icc.exponent, "big") == app.icc_key.public_exponent
    # a certificate over different static data must not verify
    with pytest.raises(odacheck.OdaCheckError):
        odacheck.icc_key(
            issuer, data[0x9F46], data.get(0x9F48, b""), data[0x9F47], app.pan, static + b"x"
        )
    if 0x9F2D in data:
        pin, _ = odacheck.icc_key(
            issuer, data[0x9F2D], data.get(0x9F2F, b""), data[0x9F2E], app.pan, None
        )
        assert app.pin_key is not None
        assert int.from_bytes(pin.modulus, "big") == app.pin_key.modulus


def test_records_fit_short_apdus() -> None:
    for name in list_profiles():
        profile = load_profile(name)
        for app in profile.applications:
            for records in app.files.values():
                assert all(len(r) <= 256 for r in records)
            assert len(app.fci) <= 256


def test_generated_ca_key_store() -> None:
    keys = load_ca_keys()
    assert {(k["rid"], k["index"]) for k in keys} == {
        ("A000000003", "C1"),
        ("A000000003", "C2"),
        ("A000000004", "C1"),
        ("A000000658", "C1"),
    }
    for entry in keys:
        key = odacheck.Key(bytes.fromhex(entry["modulus"]), bytes.fromhex(entry["exponent"]))
        assert odacheck.key_checksum(entry["rid"], entry["index"], key) == entry["checksum"]
        assert entry["expiry"] == "2049-12-31"
        assert set(entry) >= {"rid", "index", "modulus", "exponent", "expiry", "checksum"}


def test_scheme_test_keys_match_the_vector_file() -> None:
    """Every key labelled test in the vector file is in the converted store,
    with the published checksum; no live key slipped in."""
    keys = {(k["rid"], k["index"]): k for k in load_scheme_test_ca_keys()}
    published_test, published_live = set(), set()
    lines = vector_text("emv-capk-test-and-live.txt").splitlines()
    for line, following in itertools.pairwise(lines):
        if "|" in line and not line.startswith("#") and following.startswith("MODULUS="):
            cols = [c.strip() for c in line.split("|")]
            entry = (cols[1], cols[2], cols[6], following[8:])
            (published_test if cols[3] == "test" else published_live).add(entry)
    assert len(keys) == len({(r, i) for r, i, _c, _m in published_test}) == 34
    for rid, index, checksum, modulus in published_test:
        assert keys[(rid, index)]["checksum"] == checksum
        assert keys[(rid, index)]["modulus"] == modulus
    test_moduli = {m for *_x, m in published_test}
    live_only = {m for *_x, m in published_live} - test_moduli
    assert not live_only & {k["modulus"] for k in keys.values()}
    # our generated CA indexes do not collide with any scheme test key
    assert not {(k["rid"], k["index"]) for k in load_ca_keys()} & set(keys)
