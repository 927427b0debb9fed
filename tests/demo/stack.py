"""The demo stack: anvil, the contracts deployed by the operator's forge scripts, two ESPHome
meter simulators (a consumer's and a prosumer's with rooftop solar), the transformer (feeder)
meter simulator above them and Home Assistant with Grid Ledger, all on loopback and all
stopped by PID.

`python -m tests.demo` runs it until Ctrl-C. State (the chain, the keys, HA's config) lives in
`.demo/`, so a second start resumes where the first one stopped.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import secrets
import socket
import subprocess
import time
from typing import Any

from eth_account import Account

from tests.anvil import REPO, Anvil, free_port
from tests.demo.home_assistant import HomeAssistant
from tests.esphome.simulator import (
    CONFIG_DIR,
    SimulatorClient,
    SimulatorProcess,
    compile_simulator,
)

DEMO_DIR = REPO / ".demo"
CONTRACTS = REPO / "contracts"
FORGE = REPO / "node_modules" / ".bin" / "forge"
CAST = REPO / "node_modules" / ".bin" / "cast"
DEPLOYMENT_FILE = "deployments/demo.json"

HA_CURRENCY = "USD"  # what the test dollars stand for on the Energy dashboard
HA_USER = {"name": "Demo household", "username": "demo", "password": "grid-ledger-demo"}

# A billing cycle scaled to minutes, coherent with the household's options below: a bill is due
# a payment window after its period ends, and the permit ends a grace later. The shortest warning
# lead Home Assistant offers (5 minutes) is shorter than window + grace, so no warning comes
# before a bill is due; only an unpaid bill (2 minutes after its due date) warns.
PERIOD_LENGTH = 240
PAYMENT_WINDOW = 240
GRACE = 180
WARNING_LEAD_MINUTES = 5
READING_INTERVAL_MINUTES = 1
SPENDING_CAP = 5.0  # test dollars per period: the simulated load costs about 2 cents a period
BLOCK_TIME = 2  # seconds: the chain mines blocks on its own, as a real one does
HISTORY_HOURS = 7 * 24  # the Energy dashboard's week view, full from the start
FEEDER_ID = 1
METER_ID = 1  # the consumer's
PROSUMER_METER_ID = 2
TARIFF_ID = 1
PRICE_PER_KWH = 300_000  # 0.30 test-dollars (6 decimals)
STABLECOIN_FOR_HOUSEHOLD = 500 * 10**6
# The prosumer's rooftop solar: its peak against its simulated 400..800 W load exports up to
# 3.2 kW (14 A, under the meter's 16 A cut-off). One simulated day per billing period, so every
# period holds a night (import) and a midday (export); the day starts at sunrise with the meter.
# Over a day the roof makes about twice what the house draws: its tokens pay its own bills first
# and the surplus goes to the market.
PV_PEAK_W = 3600
PROSUMER_BASE_W, PROSUMER_SWING_W = 600, 200
# The producer tariff on tariff 1 (6 decimals): a token sold back earns the feed-in price; one
# redeemed against the holder's own bill takes its energy off it, less the network charge.
FEED_IN_PER_KWH = 80_000  # 0.08 test-dollars
NETWORK_CHARGE_PER_KWH = 100_000  # 0.10 test-dollars
FEED_IN_FUNDS = 100 * 10**6  # what the operator deposits to pay for tokens sold back
MAX_EXPORT_W = 5_000  # the prosumer's export rating (its inverter)
# The transformer above both households (feeder 1): its meter measures what they import plus
# its technical loss, and the illegal tap's load when that is switched on. The ledger compares
# each period's feeder energy with what the households' meters billed in it; the tolerance sits
# between the technical loss (with the readings' rounding to whole Wh on top) and the tap's
# share (800 W against the households' 1-2 kW: a quarter of the feeder's energy or more).
TRANSFORMER_YAML = CONFIG_DIR / "transformer-simulator.yaml"
TECHNICAL_LOSS_PERCENT = 3
FEEDER_LOSS_TOLERANCE_BPS = 800
TAP_POWER_W = 800
# The plant above the transformer (a root feeder with an owner): the Settlement pays it its
# energy and the distributor (feeder 1) its markup, out of the operator's deposit. Its meter is
# the transformer's register, read by a feeder entry of its own (the line between them loses
# nothing in the demo), so the distributor's loss is the feeder's.
PLANT_ID = 100
PLANT_PRICE_PER_KWH = 150_000  # 0.15 test-dollars: what the operator pays the plant
IDEAL_LOSS_BPS = 300  # the surveyed technical loss (the transformer's 3 %)
SERVICE_COST_BPS = 200
PENALTY_BPS = 1_000  # each bps of loss above the ideal costs 0.1 bps of markup
SETTLEMENT_DEPOSIT = 100 * 10**6  # the operator's deposit the shares are paid from
# The energy market: the prosumer offers its tokens between the feed-in price and what a token
# takes off a bill (the price less the network charge); the consumer bids up to that.
AUTO_SELL_FLOOR = 0.15  # test dollars per kWh
AUTO_BID_CEILING = 0.2


class SimulatedDevice:
    """A simulator as Home Assistant's ESPHome integration names it (by its friendly name)."""

    friendly_name: str

    @property
    def device(self) -> str:
        """How Home Assistant's entity ids of its ESPHome device begin."""
        return self.friendly_name.lower().replace(" ", "_")


@dataclass(frozen=True)
class Household(SimulatedDevice):
    """One household of the demo: its meter on the ledger, its keys (attributes of `DemoKeys`)
    and the firmware its simulated meter is built with."""

    role: str
    meter_id: int
    wallet: str
    meter_key: str
    device_name: str
    friendly_name: str
    firmware: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        """Its Grid Ledger entry's title."""
        return f"Meter {self.meter_id}"

    def substitutions(self) -> dict[str, str]:
        # The meter's own warning indication runs as long before a trip as the household's.
        return {
            "name": self.device_name,
            "friendly_name": self.friendly_name,
            "warning_window_seconds": str(WARNING_LEAD_MINUTES * 60),
            **dict(self.firmware),
        }


CONSUMER = Household(
    "consumer", METER_ID, "household_wallet", "meter", "grid-ledger-sim", "Grid Ledger simulator"
)
PROSUMER = Household(
    "prosumer",
    PROSUMER_METER_ID,
    "prosumer_wallet",
    "prosumer_meter",
    "grid-ledger-prosumer",
    "Grid Ledger prosumer",
    (
        ("mac_address", "98:35:69:ab:f6:7a"),  # not the consumer simulator's
        ("sim_pv_peak_w", str(PV_PEAK_W)),
        ("sim_base_power_w", str(PROSUMER_BASE_W)),
        ("sim_swing_power_w", str(PROSUMER_SWING_W)),
        ("sim_day_seconds", str(PERIOD_LENGTH)),
        ("sim_start_hour", "6"),
    ),
)
HOUSEHOLDS = (CONSUMER, PROSUMER)


@dataclass(frozen=True)
class Transformer(SimulatedDevice):
    """The feeder's meter: its Grid Ledger entry's title and its firmware."""

    title: str = f"Feeder {FEEDER_ID}"
    friendly_name: str = "Grid Ledger transformer"
    firmware: tuple[tuple[str, str], ...] = (
        ("name", "grid-ledger-transformer"),
        ("technical_loss_percent", str(TECHNICAL_LOSS_PERCENT)),
        ("tap_power_w", str(TAP_POWER_W)),
    )

    def substitutions(self) -> dict[str, str]:
        return {"friendly_name": self.friendly_name, **dict(self.firmware)}


TRANSFORMER = Transformer()


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: a port held only by closed connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def timeline(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def new_key() -> str:
    return f"0x{secrets.token_hex(32)}"


@dataclass
class DemoKeys:
    """The demo's keys, made once and kept in .demo/keys.json (git-ignored, mode 600). A key
    the file lacks (kept from a demo before the prosumer) is made and added."""

    household_wallet: str = field(default_factory=new_key)
    meter: str = field(default_factory=new_key)
    feeder: str = field(default_factory=new_key)
    plant: str = field(default_factory=new_key)  # the plant's meter and its owner
    prosumer_wallet: str = field(default_factory=new_key)
    prosumer_meter: str = field(default_factory=new_key)

    @classmethod
    def load_or_create(cls, path: Path) -> DemoKeys:
        kept = json.loads(path.read_text()) if path.exists() else {}
        keys = cls(**kept)
        if kept != keys.__dict__:
            path.write_text(json.dumps(keys.__dict__))
            path.chmod(0o600)
        return keys

    def address(self, which: str) -> str:
        return str(Account.from_key(getattr(self, which)).address)


@dataclass
class DemoStack:
    """Everything the demo runs; `start()` brings it up, `stop()` tears it down by PID."""

    anvil_port: int = int(os.environ.get("DEMO_ANVIL_PORT", "8545"))
    ha_port: int = int(os.environ.get("DEMO_HA_PORT", "8123"))
    meter_port: int = int(os.environ.get("DEMO_METER_PORT", "6053"))
    prosumer_port: int = int(os.environ.get("DEMO_PROSUMER_PORT", "6054"))
    transformer_port: int = int(os.environ.get("DEMO_TRANSFORMER_PORT", "6055"))
    state_dir: Path = DEMO_DIR
    deployment_file: str = DEPLOYMENT_FILE
    period_length: int = PERIOD_LENGTH
    payment_window: int = PAYMENT_WINDOW
    grace: int = GRACE
    genesis: int | None = None  # start of period 1; None: the chain's time at deployment
    anvil: Anvil | None = None
    meter: SimulatorProcess | None = None  # the consumer's
    prosumer_meter: SimulatorProcess | None = None
    transformer: SimulatorProcess | None = None  # the feeder's meter
    hass: HomeAssistant | None = None
    deployment: dict[str, Any] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def beside_others(
        cls,
        state_dir: Path,
        name: str,
        period_length: int = PERIOD_LENGTH,
        payment_window: int = PAYMENT_WINDOW,
        grace: int = GRACE,
    ) -> DemoStack:
        """A stack that runs beside any other (tests, the scenario): free ports, its own state
        folder and deployment file."""
        return cls(
            anvil_port=free_port(),
            ha_port=free_port(),
            meter_port=free_port(),
            prosumer_port=free_port(),
            transformer_port=free_port(),
            state_dir=state_dir,
            deployment_file=f"deployments/{name}.json",
            period_length=period_length,
            payment_window=payment_window,
            grace=grace,
        )

    def start(self, keys: DemoKeys) -> None:
        """Chain, meters and Home Assistant, then the operator's deployment: period 1 starts
        once everything is up, so the first reading lands early in it."""
        self.start_chain()
        self.start_meters()
        self.start_home_assistant()
        self.deploy(keys)

    def port_of(self, household: Household) -> int:
        return self.prosumer_port if household is PROSUMER else self.meter_port

    # ------------------------------------------------------------------ the chain

    def start_chain(self) -> None:
        self.state_dir.mkdir(exist_ok=True)
        self.anvil = Anvil(
            port=self.anvil_port, block_time=BLOCK_TIME, state_path=self.state_dir / "chain.json"
        )
        self.anvil.start()
        self._stack.callback(self.anvil.stop)
        timeline(f"anvil chain {self.anvil.chain_id} on {self.anvil.rpc_url}")

    def forge_script(self, script: str, **env: str | int) -> None:
        assert self.anvil is not None
        operator_key = self.anvil.accounts[0][1]
        subprocess.run(
            [
                str(FORGE),
                "script",
                f"script/{script}.s.sol",
                "--rpc-url",
                self.anvil.rpc_url,
                "--private-key",
                operator_key,
                "--broadcast",
                "--slow",
            ],
            cwd=CONTRACTS,
            env={
                **os.environ,
                "DEPLOYMENTS_PATH": self.deployment_file,
                **{k: str(v) for k, v in env.items()},
            },
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def cast_send(self, to: str, *call: str, value: str | None = None) -> None:
        """`cast send` from the operator: a call (signature, arguments) or a plain transfer."""
        assert self.anvil is not None
        command = [str(CAST), "send", "--rpc-url", self.anvil.rpc_url, "--private-key"]
        command += [self.anvil.accounts[0][1], to, *call]
        if value is not None:
            command += ["--value", value]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def cast_call(self, to: str, signature: str, *args: str) -> int:
        """A view call's first value as an integer (a bool as 0 or 1), e.g.
        `amountDue(uint32)(uint256)`."""
        assert self.anvil is not None
        command = [str(CAST), "call", "--rpc-url", self.anvil.rpc_url, to, signature, *args]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        first = output.split()[0]
        return {"false": 0, "true": 1}[first] if first in ("false", "true") else int(first)

    def cast_decoded(self, to: str, signature: str, *args: str) -> Any:
        """A view call's values, decoded (`cast call --json`)."""
        assert self.anvil is not None
        command = [str(CAST), "call", "--json", "--rpc-url", self.anvil.rpc_url, to, signature]
        output = subprocess.run([*command, *args], check=True, capture_output=True, text=True)
        return json.loads(output.stdout)

    def deploy(self, keys: DemoKeys) -> None:
        """Deploy and register as an operator would, unless the kept chain already has it."""
        assert self.anvil is not None
        path = CONTRACTS / self.deployment_file
        if path.exists():
            deployment = json.loads(path.read_text())
            code = self.anvil.rpc("eth_getCode", deployment["gridLedger"], "latest")
            if code not in ("0x", "0x0"):
                self.deployment = deployment
                timeline(f"GridLedger already at {deployment['gridLedger']} (kept chain)")
                self.keep_feeder(keys)
                self.register_households(keys)
                self.enable_producer()
                return
        if self.genesis is None:  # period 1 starts with the demo
            self.genesis = self.anvil.timestamp()
        self.forge_script(
            "Deploy",
            PAYMENT="token",
            PERIOD_LENGTH=self.period_length,
            PAYMENT_WINDOW=self.payment_window,
            GRACE=self.grace,
            GENESIS=self.genesis,
            # Scaled to the period, as the billing cycle is: a late bid extends a lot by an
            # eighth of a period, and a period may be settled a period after its end (its
            # households have closed it with their first reading of the next by then).
            AUCTION_EXTENSION=self.period_length // 8,
            SETTLEMENT_CUTOFF=self.period_length,
        )
        self.deployment = json.loads(path.read_text())
        timeline(f"GridLedger deployed at {self.deployment['gridLedger']}")
        self.forge_script("SetTariff", TARIFF_ID=TARIFF_ID, PRICE_PER_KWH=PRICE_PER_KWH)
        self.forge_script("RegisterFeeder", FEEDER_ID=PLANT_ID, FEEDER_SIGNER=keys.address("plant"))
        timeline(f"plant {PLANT_ID}'s meter registered (a root feeder)")
        self.forge_script(
            "RegisterFeeder",
            FEEDER_ID=FEEDER_ID,
            FEEDER_SIGNER=keys.address("feeder"),
            PARENT_ID=PLANT_ID,
            LOSS_TOLERANCE_BPS=FEEDER_LOSS_TOLERANCE_BPS,
        )
        timeline(
            f"feeder {FEEDER_ID} registered below plant {PLANT_ID} with a loss tolerance of "
            f"{FEEDER_LOSS_TOLERANCE_BPS / 100:g} %, tariff {TARIFF_ID}"
        )
        self.fund_feeder(keys)
        self.register_households(keys)
        self.enable_producer()

    def fund_feeder(self, keys: DemoKeys) -> None:
        """The feeder's and the plant's keys pay their readings' gas: the operator sends coin."""
        for key, name in (("feeder", f"feeder {FEEDER_ID}"), ("plant", f"plant {PLANT_ID}")):
            self.cast_send(keys.address(key), value="1ether")
            timeline(f"{name}'s key {keys.address(key)} funded: 1 ETH for gas")

    @property
    def settles(self) -> bool:
        """Whether this chain's feeder sits below the plant, so the Settlement can settle it (a
        chain kept from an older demo has it as a root)."""
        if "settlement" not in self.deployment:
            return False
        parent = self.cast_decoded(
            self.deployment["gridLedger"],
            "feeder(uint32)((address,uint32,uint16,uint64,uint32,uint32))",
            str(FEEDER_ID),
        )[0][1]
        return int(parent) == PLANT_ID

    def enable_settlement(self, keys: DemoKeys) -> None:
        """Once the plant's meter has read (its register starts there): the plant enabled with
        its owner, the operator's terms for the feeder tree (in force from the next period)
        and its deposit the shares are paid from. Each once, on a kept chain too."""
        ledger, settlement = self.deployment["gridLedger"], self.deployment["settlement"]
        plant = "plantInfo(uint32)((address,uint64,uint64))"
        if int(self.cast_decoded(ledger, plant, str(PLANT_ID))[0][0], 16) == 0:
            self.cast_send(
                ledger, "enablePlant(uint32,address)", str(PLANT_ID), keys.address("plant")
            )
            if int(self.cast_decoded(ledger, plant, str(PLANT_ID))[0][0], 16) == 0:
                raise RuntimeError(f"plant {PLANT_ID} not enabled")
            timeline(f"plant {PLANT_ID} enabled, owned by {keys.address('plant')}")
        if self.cast_call(settlement, "deposit()(uint256)") != 0:
            return
        self.cast_send(
            settlement,
            "setPlantPrice(uint32,uint64)",
            str(PLANT_ID),
            str(PLANT_PRICE_PER_KWH),
        )
        self.cast_send(
            settlement,
            "setDistributorTerms(uint32,uint16,uint16,uint32,uint32,address)",
            str(FEEDER_ID),
            str(IDEAL_LOSS_BPS),
            str(SERVICE_COST_BPS),
            str(PENALTY_BPS),
            str(TARIFF_ID),
            keys.address("feeder"),
        )
        self.operator_deposit(settlement, "addDeposit(uint256)", SETTLEMENT_DEPOSIT)
        if self.cast_call(settlement, "deposit()(uint256)") != SETTLEMENT_DEPOSIT:
            raise RuntimeError("the operator's settlement deposit is not in")
        timeline(
            f"settlement terms from the next period: plant {PLANT_ID} paid "
            f"{PLANT_PRICE_PER_KWH / 10**6:g} per kWh; distributor {FEEDER_ID} ideal loss "
            f"{IDEAL_LOSS_BPS} bps, service cost {SERVICE_COST_BPS} bps, penalty {PENALTY_BPS} "
            f"bps per bps above the ideal, payee its key; operator deposit "
            f"{SETTLEMENT_DEPOSIT / 10**6:g} test dollars"
        )

    def keep_feeder(self, keys: DemoKeys) -> None:
        """A chain kept from a demo before the transformer has the feeder at the script's
        default tolerance and its key without gas: the operator sets the demo's tolerance
        (the signer stays) and funds the key."""
        assert self.anvil is not None
        if int(self.anvil.rpc("eth_getBalance", keys.address("feeder"), "latest"), 16) == 0:
            self.fund_feeder(keys)
        if not self.settles:
            timeline(
                f"this chain's feeder {FEEDER_ID} has no plant above it: delete .demo/ to see "
                "the settlement"
            )
        ledger = self.deployment["gridLedger"]
        signer, _, tolerance, *_ = self.cast_decoded(
            ledger, "feeder(uint32)((address,uint32,uint16,uint64,uint32,uint32))", str(FEEDER_ID)
        )[0]
        if int(tolerance) != FEEDER_LOSS_TOLERANCE_BPS:
            self.cast_send(
                ledger,
                "updateFeeder(uint32,address,uint16)",
                str(FEEDER_ID),
                signer,
                str(FEEDER_LOSS_TOLERANCE_BPS),
            )
            timeline(f"feeder {FEEDER_ID}: loss tolerance set to {FEEDER_LOSS_TOLERANCE_BPS} bps")

    def register_households(self, keys: DemoKeys) -> None:
        """Each household's meter on the ledger with its own key and wallet, unless the kept
        chain has it already (a demo kept from before the prosumer gains it here)."""
        for household in HOUSEHOLDS:
            if self.meter_registered(household.meter_id):
                continue
            wallet = keys.address(household.wallet)
            self.forge_script(
                "RegisterMeter",
                METER_ID=household.meter_id,
                METER_SIGNER=keys.address(household.meter_key),
                PAYER=wallet,
                FEEDER_ID=FEEDER_ID,
                TARIFF_ID=TARIFF_ID,
            )
            timeline(f"{household.role}'s meter {household.meter_id} registered")
            self.cast_send(wallet, value="1ether")
            self.cast_send(
                self.deployment["paymentToken"],
                "mint(address,uint256)",
                wallet,
                str(STABLECOIN_FOR_HOUSEHOLD),
            )
            timeline(f"{household.role}'s wallet {wallet} funded: 1 ETH for gas, 500 test dollars")

    def enable_producer(self) -> None:
        """What the operator does for the prosumer: the tariff's producer prices, the meter's
        export register enabled from where the meter's register stands, and funds deposited
        for tokens sold back. Each step once, on a kept chain too."""
        ledger = self.deployment["gridLedger"]
        if "energyToken" not in self.deployment:
            timeline("this chain's ledger predates energy tokens: delete .demo/ to see them")
            return
        tariff = self.cast_call(ledger, "producerTariff(uint32)(uint64,uint64)", str(TARIFF_ID))
        if tariff == 0:
            prices = f"({FEED_IN_PER_KWH},{NETWORK_CHARGE_PER_KWH})"
            self.cast_send(ledger, "setProducerTariff(uint32,(uint64,uint64))", "1", prices)
            timeline(
                f"tariff {TARIFF_ID}: feed-in {FEED_IN_PER_KWH / 10**6} and network charge "
                f"{NETWORK_CHARGE_PER_KWH / 10**6} per kWh"
            )
        info = "producerInfo(uint32)(bool,bool,uint32,uint64,uint64,uint64)"
        if self.cast_call(ledger, info, str(PROSUMER_METER_ID)) == 0:  # `exports` false
            assert self.prosumer_meter is not None
            export_wh = int(read_meter_value(self.prosumer_meter.port, "energy_exported"))
            self.cast_send(
                ledger,
                "enableExport(uint32,uint32,uint64)",
                str(PROSUMER_METER_ID),
                str(MAX_EXPORT_W),
                str(export_wh),
            )
            timeline(
                f"meter {PROSUMER_METER_ID} exports: rated {MAX_EXPORT_W} W, its export "
                f"register taken from {export_wh} Wh"
            )
        if self.cast_call(ledger, "feedInFunds()(uint256)") == 0:
            self.operator_deposit(ledger, "depositFeedInFunds(uint256)", FEED_IN_FUNDS)
            timeline(f"operator deposited {FEED_IN_FUNDS / 10**6:g} test dollars of feed-in funds")

    def operator_deposit(self, to: str, function: str, amount: int) -> None:
        """The operator's test dollars (minted to it) deposited into a contract's `function`,
        which takes them by `transferFrom`."""
        assert self.anvil is not None
        operator = self.anvil.accounts[0][0]
        token = self.deployment["paymentToken"]
        self.cast_send(token, "mint(address,uint256)", operator, str(amount))
        self.cast_send(token, "approve(address,uint256)", to, str(amount))
        self.cast_send(to, function, str(amount))

    def meter_registered(self, meter_id: int) -> bool:
        """Whether the ledger knows the meter: its signer (the first word of `meter()`) is set."""
        assert self.anvil is not None
        command = [str(CAST), "call", "--rpc-url", self.anvil.rpc_url]
        command += [self.deployment["gridLedger"], "meter(uint32)", str(meter_id)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return int(output.strip()[2:66] or "0", 16) != 0

    # ------------------------------------------------------------------ the meter

    def start_meters(self) -> None:
        """Each household's meter: one firmware build per household (its name, and the
        prosumer's solar), each simulator with its own port and restored registers."""
        for household in HOUSEHOLDS:
            build = compile_simulator(household.substitutions())
            timeline(f"{household.role}'s meter firmware compiled in {build.seconds:.1f} s")
            name = "meter" if household is CONSUMER else household.role
            meter = SimulatorProcess(
                program=build.program,
                prefdir=self.state_dir / name,
                log_path=self.state_dir / f"{name}.log",
                port=self.port_of(household),
            )
            meter.start()
            self._stack.callback(meter.stop)
            if household is CONSUMER:
                self.meter = meter
            else:
                self.prosumer_meter = meter
            timeline(
                f"{household.role}'s ESPHome meter simulator serving its API on "
                f"127.0.0.1:{meter.port}"
            )
        build = compile_simulator(TRANSFORMER.substitutions(), config=TRANSFORMER_YAML)
        timeline(f"transformer meter firmware compiled in {build.seconds:.1f} s")
        self.transformer = SimulatorProcess(
            program=build.program,
            prefdir=self.state_dir / "transformer",
            log_path=self.state_dir / "transformer.log",
            port=self.transformer_port,
        )
        self.transformer.start()
        self._stack.callback(self.transformer.stop)
        timeline(
            f"transformer (feeder {FEEDER_ID}) meter simulator serving its API on "
            f"127.0.0.1:{self.transformer.port}: technical loss {TECHNICAL_LOSS_PERCENT} %, "
            f"illegal tap {TAP_POWER_W} W (off)"
        )

    # ------------------------------------------------------------------ Home Assistant

    def start_home_assistant(self) -> None:
        config_dir = self.state_dir / "homeassistant"
        write_ha_config(config_dir, self.ha_port)
        self.hass = HomeAssistant(config_dir, self.ha_port)
        self._stack.callback(self.hass.stop)
        self.hass.start()
        self.hass.onboard(**HA_USER)
        timeline(f"Home Assistant up on {self.hass.url}")

    def check_ports(self) -> None:
        ports = (
            self.anvil_port,
            self.ha_port,
            self.meter_port,
            self.prosumer_port,
            self.transformer_port,
        )
        busy = [p for p in ports if not port_is_free(p)]
        if busy:
            raise SystemExit(
                f"ports {busy} are in use; set DEMO_ANVIL_PORT, DEMO_HA_PORT, DEMO_METER_PORT, "
                "DEMO_PROSUMER_PORT or DEMO_TRANSFORMER_PORT"
            )

    def stop(self) -> None:
        self._stack.close()
        timeline("stopped: Home Assistant, meter simulators (households', transformer) and anvil")


def read_meter_value(port: int, object_id: str) -> float:
    """One value a simulated meter reports over its API (a client of its own, closed after)."""

    async def read() -> float:
        async with SimulatorClient(port) as client:
            await client.wait_for(lambda: client.value(object_id) is not None, 10, object_id)
            return float(str(client.value(object_id)))

    # A private loop: the demo's callers may hold a current loop of their own.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(read())
    finally:
        loop.close()


def write_ha_config(config_dir: Path, port: int) -> None:
    """A Home Assistant config folder with only what the demo shows, and our integration."""
    config_dir.mkdir(parents=True, exist_ok=True)
    link = config_dir / "custom_components"
    if not link.exists():
        link.symlink_to(REPO / "custom_components", target_is_directory=True)
    (config_dir / "configuration.yaml").write_text(
        f"""\
homeassistant:
  name: Grid Ledger demo
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: {HA_CURRENCY}
  country: NL
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
api:
config:
# The demo's automations (the transformer's downstream power follows the households' import):
# written through the automation editor's API, shown and editable there.
automation: !include automations.yaml
energy:
history:
logbook:
logger:
  default: warning
  logs:
    custom_components.grid_ledger: info
lovelace:
  dashboards:
    grid-ledger:
      mode: yaml
      filename: grid_ledger_dashboard.yaml
      title: Grid Ledger
      icon: mdi:transmission-tower
      show_in_sidebar: true
"""
    )
    automations = config_dir / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n")
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        # The demo has no internet: skip the onboarding step that adds weather, radio and
        # text-to-speech integrations; the owner is still created through onboarding.
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": ["core_config"]},
                }
            )
        )
