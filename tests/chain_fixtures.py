"""Chain fixtures: the Grid Ledger contracts deployed on the session anvil, and helpers.

Deployment uses the compiled artifacts in `contracts/out` (built once per session with
`forge build`) and plain web3 transactions, so it takes well under a second. The same helpers
serve the gas benchmark (`tests/bench/bench_gas.py`) and the demo.

Fixtures (session scope; tests that use them also request `socket_enabled`):
- `chain_w3`: a `Web3` on the session anvil.
- `ledger_native`: a `Deployment` paid in the native coin.
- `ledger_token`: a `Deployment` paid in the test stablecoin (6 decimals, ERC-2612).
Both start with tariff 1 (flat, `DEFAULT_PRICE` per kWh) and feeder 1 registered, and an
`EnergyAuction` on the ledger (`deployment.auction`: `AUCTION_INCREMENT_BPS`, `AUCTION_EXTENSION`)
and a `Settlement` on it (`deployment.settlement`: `SETTLEMENT_CUTOFF`).
Tests make their own meters with `deployment.new_meter(...)`, which hands out fresh ids and keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
import itertools
import json
import subprocess
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_canonical_address, to_checksum_address
from eth_utils.abi import function_signature_to_4byte_selector
import pytest
import pytest_socket  # type: ignore[import-untyped]
import rlp  # type: ignore[import-untyped]
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.types import TxReceipt, Wei

from tests.anvil import REPO, Anvil

CONTRACTS = REPO / "contracts"
ARTIFACTS = CONTRACTS / "out"
FORGE = REPO / "node_modules" / ".bin" / "forge"

POSTPAID = 0
PREPAID = 1
PERMIT_FOREVER = 2**64 - 1
DEFAULT_PRICE = 300_000  # base units per kWh: 0.30 tUSD with 6 decimals
DEFAULT_MAX_POWER_W = 20_000
AUCTION_INCREMENT_BPS = 500  # a bid beats the highest by 5 %
AUCTION_EXTENSION = (
    300  # a bid in an auction's last 5 minutes extends it to 5 minutes after the bid
)

SETTLEMENT_CUTOFF = 600  # a period may be settled 10 minutes after its end

READING_TYPES = {
    "Reading": [
        {"name": "meterId", "type": "uint32"},
        {"name": "wh", "type": "uint64"},
        {"name": "timestamp", "type": "uint32"},
    ]
}
BIDIRECTIONAL_READING_TYPES = {
    "BidirectionalReading": [
        {"name": "meterId", "type": "uint32"},
        {"name": "importWh", "type": "uint64"},
        {"name": "exportWh", "type": "uint64"},
        {"name": "timestamp", "type": "uint32"},
    ]
}
FEEDER_READING_TYPES = {
    "FeederReading": [
        {"name": "feederId", "type": "uint32"},
        {"name": "wh", "type": "uint64"},
        {"name": "timestamp", "type": "uint32"},
    ]
}
TX_GAS = 8_000_000
DEPLOY_GAS = 12_000_000
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def build_contracts() -> None:
    """Compile the contracts (a no-op when nothing changed)."""
    subprocess.run(
        [str(FORGE), "build", "--skip", "test", "--skip", "script"],
        cwd=CONTRACTS,
        check=True,
        capture_output=True,
    )


def artifact(name: str) -> dict[str, Any]:
    """The forge artifact of contract `name` (its file is `<name>.sol`)."""
    path = next(ARTIFACTS.glob(f"{name}.sol/{name}.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass(frozen=True)
class LedgerConfig:
    """Deployment parameters (seconds). `genesis` None: the deployment block's time."""

    period_length: int = 3600
    payment_window: int = 600
    grace: int = 900
    max_clock_skew: int = 300
    genesis: int | None = None
    admin_transfer_delay: int = 0
    reading_timeout_periods: int = 0  # 0: a meter never becomes reading overdue


@dataclass(frozen=True)
class Meter:
    """A registered meter and the keys that sign for it and pay for it."""

    meter_id: int
    signer: LocalAccount
    payer: LocalAccount


@dataclass
class Deployment:
    """A deployed ledger (and token, if any) with an operator key holding every role."""

    w3: Web3
    ledger: Contract
    extension: str
    token: Contract | None
    operator: LocalAccount
    treasury: str
    config: LedgerConfig
    energy_token: Contract | None = None
    auction: Contract | None = None
    settlement: Contract | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.ledger.address)

    # -------------------------------------------------------------- transactions

    def transact(
        self, call: Any, sender: LocalAccount | None = None, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send a contract call as a signed transaction; return its receipt (raises if reverted)."""
        receipt = self.send(call, sender, value, gas)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction reverted: {self.revert_reason(call, sender, value)}")
        return receipt

    def revert_reason(self, call: Any, sender: LocalAccount | None = None, value: int = 0) -> str:
        """Replay a call on the latest state and return how it reverts (for messages)."""
        account = sender or self.operator
        try:
            call.call({"from": account.address, "value": value})
        except ContractCustomError as err:
            return self.error_name(str(err.data))
        except Exception as err:
            return repr(err)
        return "no revert on replay"

    def error_name(self, data: str) -> str:
        """`Name(args)` of a custom error's revert data, from the ledger's, the auction's or the
        settlement's ABI."""
        raw = bytes.fromhex(data.removeprefix("0x"))
        others = [c.abi for c in (self.auction, self.settlement) if c is not None]
        for entry in [*self.ledger.abi, *itertools.chain.from_iterable(others)]:
            if entry["type"] != "error":
                continue
            types = [p["type"] for p in entry["inputs"]]
            signature = f"{entry['name']}({','.join(types)})"
            if function_signature_to_4byte_selector(signature) == raw[:4]:
                return f"{entry['name']}{tuple(abi_decode(types, raw[4:]))}"
        return data

    def send(
        self, call: Any, sender: LocalAccount | None = None, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send a contract call as a signed transaction and return the receipt, even if reverted."""
        account = sender or self.operator
        params: dict[str, Any] = {
            "from": account.address,
            "value": value,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": self.chain_id,
        }
        # A fixed limit, not eth_estimateGas: anvil 1.7.1 estimates with a block time of its own, so
        # time checks (clock skew, periods) can fail in the estimate and not in the block.
        params["gas"] = gas or TX_GAS
        tx = call.build_transaction(params)
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    # -------------------------------------------------------------- operator helpers

    def new_id(self) -> int:
        return next(self._ids)

    def set_tariff(
        self,
        tariff_id: int,
        price_per_kwh: int,
        bands: Sequence[tuple[int, int, int]] = (),
        utc_offset_seconds: int = 0,
        emergency_credit: int = 0,
        low_credit_threshold: int = 0,
    ) -> TxReceipt:
        """Set a tariff; `bands` are (start minute, end minute, price per kWh) in local time."""
        tariff = (
            price_per_kwh,
            utc_offset_seconds,
            emergency_credit,
            low_credit_threshold,
            [tuple(b) for b in bands],
        )
        return self.transact(self.ledger.functions.setTariff(tariff_id, tariff))

    def register_feeder(
        self,
        feeder_id: int,
        signer: str,
        parent_id: int = 0,
        loss_tolerance_bps: int = 500,
        max_power_w: int = 1_000_000,
    ) -> TxReceipt:
        return self.transact(
            self.ledger.functions.registerFeeder(
                feeder_id, signer, parent_id, loss_tolerance_bps, max_power_w
            )
        )

    def register_meter(
        self,
        meter_id: int,
        signer: str,
        payer: str,
        feeder_id: int = 1,
        tariff_id: int = 1,
        mode: int = POSTPAID,
        max_power_w: int = DEFAULT_MAX_POWER_W,
        initial_wh: int = 0,
    ) -> TxReceipt:
        params = (signer, payer, feeder_id, tariff_id, mode, max_power_w, initial_wh)
        return self.transact(self.ledger.functions.registerMeter(meter_id, params))

    def new_meter(
        self,
        mode: int = POSTPAID,
        feeder_id: int = 1,
        tariff_id: int = 1,
        payer: LocalAccount | None = None,
        max_power_w: int = DEFAULT_MAX_POWER_W,
        initial_wh: int = 0,
        signer: LocalAccount | None = None,
    ) -> Meter:
        """Register a meter with a fresh id and a fresh signer key; the payer is funded with gas."""
        meter_id = self.new_id()
        signer = signer or Account.create()
        if payer is None:
            payer = Account.create()
            self.fund(payer.address)
        self.register_meter(
            meter_id,
            signer.address,
            payer.address,
            feeder_id,
            tariff_id,
            mode,
            max_power_w,
            initial_wh,
        )
        return Meter(meter_id, signer, payer)

    def set_friendly_window(
        self, utc_offset_seconds: int, start_minute: int, end_minute: int, friendly_days: int
    ) -> TxReceipt:
        window = (utc_offset_seconds, start_minute, end_minute, friendly_days)
        return self.transact(self.ledger.functions.setFriendlyWindow(window))

    def set_protected(self, meter_id: int, protected: bool = True) -> TxReceipt:
        return self.transact(self.ledger.functions.setProtected(meter_id, protected))

    def fund(self, address: str, wei: int = 10**18) -> None:
        """Give `address` native coin for gas (and native payments)."""
        tx_hash = self.w3.eth.send_transaction(
            {"from": list(self.w3.eth.accounts)[9], "to": address, "value": Wei(wei)}
        )
        self.w3.eth.wait_for_transaction_receipt(tx_hash)

    def mint(self, to: str, amount: int) -> TxReceipt:
        """Mint test stablecoin base units (token deployments only)."""
        if self.token is None:
            raise ValueError("native deployment has no token")
        return self.transact(self.token.functions.mint(to, amount))

    # -------------------------------------------------------------- signatures

    def domain(self) -> dict[str, Any]:
        return {
            "name": "GridLedger",
            "version": "1",
            "chainId": self.chain_id,
            "verifyingContract": self.address,
        }

    def sign_reading(self, signer: LocalAccount, meter_id: int, wh: int, timestamp: int) -> bytes:
        """The 65-byte EIP-712 signature (r, s, v) of a `Reading`."""
        return sign_reading(signer, self.domain(), meter_id, wh, timestamp)

    def sign_feeder_reading(
        self, signer: LocalAccount, feeder_id: int, wh: int, timestamp: int
    ) -> bytes:
        message = {"feederId": feeder_id, "wh": wh, "timestamp": timestamp}
        signed = signer.sign_typed_data(self.domain(), FEEDER_READING_TYPES, message)
        return bytes(signed.signature)

    def sign_bidirectional_reading(
        self, signer: LocalAccount, meter_id: int, import_wh: int, export_wh: int, timestamp: int
    ) -> bytes:
        """The 65-byte EIP-712 signature (r, s, v) of a `BidirectionalReading`."""
        message = {
            "meterId": meter_id,
            "importWh": import_wh,
            "exportWh": export_wh,
            "timestamp": timestamp,
        }
        signed = signer.sign_typed_data(self.domain(), BIDIRECTIONAL_READING_TYPES, message)
        return bytes(signed.signature)

    def signed_bidirectional_reading(
        self, signer: LocalAccount, meter_id: int, import_wh: int, export_wh: int, timestamp: int
    ) -> tuple[tuple[int, int, int, int], bytes, bytes]:
        """A `SignedBidirectionalReading` tuple for `submitBidirectionalReadings` (ERC-2098)."""
        sig = self.sign_bidirectional_reading(signer, meter_id, import_wh, export_wh, timestamp)
        r, vs = compact(sig)
        return ((meter_id, import_wh, export_wh, timestamp), r, vs)

    def enable_export(
        self, meter_id: int, max_export_w: int = DEFAULT_MAX_POWER_W, export_wh: int = 0
    ) -> TxReceipt:
        """Give a meter an export register (registrar: the operator)."""
        return self.transact(self.ledger.functions.enableExport(meter_id, max_export_w, export_wh))

    def signed_reading(
        self, signer: LocalAccount, meter_id: int, wh: int, timestamp: int
    ) -> tuple[tuple[int, int, int], bytes, bytes]:
        """A `SignedReading` tuple for `submitReadings` (ERC-2098 compact signature)."""
        r, vs = compact(self.sign_reading(signer, meter_id, wh, timestamp))
        return ((meter_id, wh, timestamp), r, vs)

    def permit_signature(
        self,
        owner: LocalAccount,
        amount: int,
        deadline: int,
        token: Contract | None = None,
        spender: str | None = None,
    ) -> tuple[int, bytes, bytes]:
        """(v, r, s) of an ERC-2612 permit of `owner` for `amount` of `token` (default: the payment
        token) to `spender` (default: the ledger)."""
        token = token or self.token
        if token is None:
            raise ValueError("native deployment has no token")
        nonce = token.functions.nonces(owner.address).call()
        domain = {
            "name": token.functions.name().call(),
            "version": "1",
            "chainId": self.chain_id,
            "verifyingContract": token.address,
        }
        types = {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        }
        message = {
            "owner": owner.address,
            "spender": spender or self.address,
            "value": amount,
            "nonce": nonce,
            "deadline": deadline,
        }
        signed = owner.sign_typed_data(domain, types, message)
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def sign_reading(
    signer: LocalAccount, domain: dict[str, Any], meter_id: int, wh: int, timestamp: int
) -> bytes:
    """The 65-byte EIP-712 signature (r, s, v) of a `Reading` for the given domain."""
    message = {"meterId": meter_id, "wh": wh, "timestamp": timestamp}
    return bytes(signer.sign_typed_data(domain, READING_TYPES, message).signature)


def compact(signature: bytes) -> tuple[bytes, bytes]:
    """ERC-2098 (r, vs) from a 65-byte (r, s, v) signature."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    vs = s | ((v - 27) << 255)
    return r, vs.to_bytes(32, "big")


def malleate(signature: bytes) -> bytes:
    """The high-s twin of a signature: valid for ecrecover, rejected by the ledger."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def _deploy(w3: Web3, account: LocalAccount, name: str, *args: Any) -> Contract:
    data = artifact(name)
    factory = w3.eth.contract(abi=data["abi"], bytecode=data["bytecode"]["object"])
    tx = factory.constructor(*args).build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "chainId": int(w3.eth.chain_id),
            "gas": DEPLOY_GAS,
        }
    )
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30
    )
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise RuntimeError(f"deploying {name} failed")
    return w3.eth.contract(address=receipt["contractAddress"], abi=data["abi"])


def deploy_ledger(
    w3: Web3,
    operator_key: str,
    token: bool,
    config: LedgerConfig | None = None,
    treasury: str | None = None,
) -> Deployment:
    """Deploy GridLedger (its modules and energy token, + test stablecoin when `token`), the
    EnergyAuction and the Settlement on it, tariff 1, feeder 1.

    The operator holds every role; the treasury defaults to the operator.
    """
    config = config or LedgerConfig()
    operator: LocalAccount = Account.from_key(operator_key)
    stablecoin = _deploy(w3, operator, "TestStablecoin", operator.address) if token else None
    genesis = config.genesis
    if genesis is None:
        genesis = int(w3.eth.get_block("latest")["timestamp"])
    ledger_config = (
        operator.address,
        config.admin_transfer_delay,
        stablecoin.address if stablecoin is not None else "0x" + "00" * 20,
        treasury or operator.address,
        genesis,
        config.period_length,
        config.payment_window,
        config.grace,
        config.max_clock_skew,
        config.reading_timeout_periods,
    )
    views = _deploy(w3, operator, "GridLedgerFeedersAndViews", ledger_config)
    extension = _deploy(w3, operator, "GridLedgerExtension", ledger_config, views.address)
    # The energy token names the ledger as its minter: the ledger is deployed two contracts later
    # (the ledger's constructor checks it).
    nonce = w3.eth.get_transaction_count(operator.address, "pending")
    energy_token = _deploy(
        w3, operator, "EnergyToken", _create_address(operator.address, nonce + 2)
    )
    producers = _deploy(w3, operator, "GridLedgerProducers", ledger_config, energy_token.address)
    ledger = _deploy(
        w3, operator, "GridLedger", ledger_config, extension.address, producers.address
    )
    # One ABI for the whole interface: the ledger serves the extension's functions too.
    full = w3.eth.contract(address=ledger.address, abi=ledger_abi())
    deployment = Deployment(
        w3=w3,
        ledger=full,
        extension=str(extension.address),
        token=stablecoin,
        operator=operator,
        treasury=treasury or operator.address,
        config=config,
        energy_token=energy_token,
    )
    deployment.auction = deploy_auction(w3, operator, str(ledger.address))
    deployment.settlement = deploy_settlement(w3, operator, str(ledger.address))
    deployment.set_tariff(1, DEFAULT_PRICE)
    deployment.register_feeder(1, operator.address)
    return deployment


def deploy_auction(
    w3: Web3,
    deployer: LocalAccount,
    ledger: str,
    min_increment_bps: int = AUCTION_INCREMENT_BPS,
    extension_window: int = AUCTION_EXTENSION,
) -> Contract:
    """Deploy an EnergyAuction trading `ledger`'s energy token for its payment token."""
    return _deploy(w3, deployer, "EnergyAuction", ledger, min_increment_bps, extension_window)


def deploy_settlement(
    w3: Web3, deployer: LocalAccount, ledger: str, cutoff: int = SETTLEMENT_CUTOFF
) -> Contract:
    """Deploy a Settlement paying `ledger`'s plants and distributors from the operator's deposit."""
    return _deploy(w3, deployer, "Settlement", ledger, cutoff)


def _create_address(sender: str, nonce: int) -> str:
    """The address of the contract `sender` creates with `nonce` (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def ledger_abi() -> list[dict[str, Any]]:
    """The checked-in ABI of the ledger (the contract and its extension, merged)."""
    path = REPO / "custom_components" / "grid_ledger" / "abi" / "GridLedger.json"
    abi: list[dict[str, Any]] = json.loads(path.read_text())
    return abi


def web3_for(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def chain_w3(anvil: Anvil) -> Web3:
    """A Web3 on the session anvil, with the contracts compiled."""
    build_contracts()
    return web3_for(anvil)


def _with_sockets(make: Callable[[], Deployment]) -> Deployment:
    """Deploy from a session fixture: the HA harness blocks sockets outside tests that ask."""
    pytest_socket.enable_socket()
    try:
        result = make()
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    return result


@pytest.fixture(scope="session")
def ledger_native(anvil: Anvil, chain_w3: Web3) -> Deployment:
    """GridLedger paid in the native coin, deployed by anvil account 0."""
    return _with_sockets(lambda: deploy_ledger(chain_w3, anvil.accounts[0][1], token=False))


@pytest.fixture(scope="session")
def ledger_token(anvil: Anvil, chain_w3: Web3) -> Deployment:
    """GridLedger paid in the test stablecoin, deployed by anvil account 0."""
    return _with_sockets(lambda: deploy_ledger(chain_w3, anvil.accounts[0][1], token=True))
