"""The operator's forge scripts, broadcast against the session anvil."""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import subprocess
import uuid

from eth_account import Account
import pytest
from web3 import Web3

from tests.anvil import Anvil
from tests.chain_fixtures import CONTRACTS, FORGE, PERMIT_FOREVER, PREPAID, artifact, ledger_abi

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
def deployments_path() -> Iterator[Path]:
    path = CONTRACTS / "deployments" / f"pytest-{uuid.uuid4().hex}.json"
    yield path
    path.unlink(missing_ok=True)


def _script(anvil: Anvil, name: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [
            str(FORGE),
            "script",
            f"script/{name}.s.sol",
            "--rpc-url",
            anvil.rpc_url,
            "--private-key",
            anvil.accounts[1][1],
            "--broadcast",
        ],
        cwd=CONTRACTS,
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_scripts_deploy_and_configure(anvil: Anvil, chain_w3: Web3, deployments_path: Path) -> None:
    base = {"DEPLOYMENTS_PATH": str(deployments_path)}
    _script(anvil, "Deploy", base | {"PAYMENT": "token", "MINT_AMOUNT": "5000000", "GRACE": "60"})
    record = json.loads(deployments_path.read_text())
    assert record["chainId"] == anvil.chain_id
    assert record["testStablecoin"] is True
    ledger = chain_w3.eth.contract(address=record["gridLedger"], abi=ledger_abi())
    assert ledger.functions.VERSION().call() == "3.0.0"
    assert ledger.functions.energyToken().call() == record["energyToken"]
    assert ledger.functions.grace().call() == 60
    assert ledger.functions.paymentToken().call() == record["paymentToken"]
    auction = chain_w3.eth.contract(
        address=record["energyAuction"], abi=artifact("EnergyAuction")["abi"]
    )
    assert auction.functions.ledger().call() == record["gridLedger"]
    assert auction.functions.minIncrementBps().call() == 500
    settlement = chain_w3.eth.contract(
        address=record["settlement"], abi=artifact("Settlement")["abi"]
    )
    assert settlement.functions.ledger().call() == record["gridLedger"]
    assert settlement.functions.paymentToken().call() == record["paymentToken"]
    assert settlement.functions.cutoff().call() == 600

    feeder_signer = Account.create().address
    meter_signer = Account.create().address
    _script(
        anvil,
        "SetTariff",
        base
        | {
            "TARIFF_ID": "3",
            "PRICE_PER_KWH": "250000",
            "UTC_OFFSET": "3600",
            "BAND_STARTS": "1080",
            "BAND_ENDS": "1320",
            "BAND_PRICES": "500000",
        },
    )
    _script(anvil, "RegisterFeeder", base | {"FEEDER_ID": "4", "FEEDER_SIGNER": feeder_signer})
    _script(
        anvil,
        "RegisterMeter",
        base
        | {
            "METER_ID": "9",
            "METER_SIGNER": meter_signer,
            "PAYER": anvil.accounts[2][0],
            "FEEDER_ID": "4",
            "TARIFF_ID": "3",
            "MODE": "prepaid",
        },
    )
    _script(
        anvil,
        "SetFriendlyWindow",
        base | {"START_MINUTE": "1320", "END_MINUTE": "360", "FRIENDLY_DAYS": "96"},
    )
    _script(anvil, "MarkProtected", base | {"METER_ID": "9"})
    registered_at = ledger.functions.meter(9).call()[8]
    _script(
        anvil,
        "RecordMeterExchange",
        base
        | {
            "METER_ID": "9",
            "OLD_FINAL_WH": "3",
            "NEW_INITIAL_WH": "7",
            "EXCHANGED_AT": str(registered_at + 1),
        },
    )

    tariff = ledger.functions.tariff(3).call()
    assert tariff[0] == 250_000
    assert tariff[4] == [(1080, 1320, 500_000)]
    assert ledger.functions.feeder(4).call()[0] == feeder_signer
    meter = ledger.functions.meter(9).call()
    assert meter[0] == meter_signer
    assert meter[5] == PREPAID
    assert meter[6] is True  # protected
    assert tuple(ledger.functions.friendlyWindow().call()) == (0, 1320, 360, 96)
    assert ledger.functions.permitUntil(9).call() == PERMIT_FOREVER
    assert tuple(meter[7:9]) == (7, registered_at + 1)  # the new register, from the exchange on

    # A meter with an export register is exchanged with both registers.
    operator = Web3.to_checksum_address(anvil.accounts[1][0])
    ledger.functions.enableExport(9, 10_000, 0).transact({"from": operator})
    _script(
        anvil,
        "RecordMeterExchange",
        base
        | {
            "METER_ID": "9",
            "OLD_FINAL_WH": "8",
            "NEW_INITIAL_WH": "0",
            "OLD_FINAL_EXPORT_WH": "2",  # 2 Wh exported since the last reading, within 10 kW
            "NEW_INITIAL_EXPORT_WH": "5",
            "EXCHANGED_AT": str(registered_at + 2),
        },
    )
    producer = ledger.functions.producerInfo(9).call()
    # The new meter's export register; the old meter's last export pending.
    assert (producer[3], producer[4]) == (5, 2)
    assert tuple(ledger.functions.meter(9).call()[7:9]) == (0, registered_at + 2)
