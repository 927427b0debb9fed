"""coincurve is an optional speed-up: without it readings are signed byte for byte the same."""

from __future__ import annotations

from eth_account import Account
from eth_keys.backends.coincurve import CoinCurveECCBackend
from eth_keys.backends.native.main import NativeECCBackend
import pytest

from custom_components.grid_ledger.chain.models import Reading
from custom_components.grid_ledger.chain.signing import ReadingSigner, ecc_backend
from tests.anvil import Anvil
from tests.chain_fixtures import Deployment

pytestmark = pytest.mark.usefixtures("socket_enabled")


def test_backend_follows_whether_coincurve_is_importable() -> None:
    assert isinstance(ecc_backend(coincurve=True), CoinCurveECCBackend)
    assert isinstance(ecc_backend(coincurve=False), NativeECCBackend)
    # The test stack installs coincurve, so by default the fast path is taken.
    assert isinstance(ecc_backend(), CoinCurveECCBackend)


def test_both_backends_sign_what_the_contract_verifies(
    anvil: Anvil, ledger_native: Deployment
) -> None:
    d = ledger_native
    meter = d.new_meter()
    key = "0x" + bytes(meter.signer.key).hex()
    fast, pure = (
        ReadingSigner(key, d.chain_id, d.address, backend=ecc_backend(coincurve=flag))
        for flag in (True, False)
    )
    anvil.increase_time(60)
    reading = Reading(meter.meter_id, 12, anvil.timestamp())

    digest = d.ledger.functions.readingDigest(
        (reading.meter_id, reading.wh, reading.timestamp)
    ).call()
    assert fast.digest(reading) == pure.digest(reading) == digest
    signed = pure.sign(reading)
    assert signed.signature == fast.sign(reading).signature
    assert signed.signature == d.sign_reading(
        meter.signer, reading.meter_id, reading.wh, reading.timestamp
    )
    assert Account._recover_hash(digest, signature=signed.signature) == meter.signer.address

    # The contract takes the pure-Python signature as the meter's.
    d.transact(
        d.ledger.functions.submitReading(
            (reading.meter_id, reading.wh, reading.timestamp), signed.signature
        )
    )
    assert d.ledger.functions.meter(reading.meter_id).call()[7] == reading.wh  # lastWh
