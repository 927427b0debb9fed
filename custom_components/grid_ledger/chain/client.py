"""Async client of one Grid Ledger contract, over HTTP (injected aiohttp session) or WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
import logging
from typing import Any, cast

from aiohttp import ClientError, ClientSession
from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from web3 import AsyncWeb3, WebSocketProvider
from web3.contract import AsyncContract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    PersistentConnectionError,
    ProviderConnectionError,
    Web3Exception,
    Web3RPCError,
)
from web3.types import BlockIdentifier, LogReceipt

from .abi import (
    ERC20_ABI,
    ERRORS,
    EVENTS,
    GRID_LEDGER_ABI,
    GRID_LEDGER_FUNCTIONS,
)
from .errors import (
    CannotConnectError,
    GridLedgerError,
    InsufficientFundsError,
    NotGridLedgerError,
    RevertedError,
    UnsupportedVersionError,
    WrongChainError,
)
from .models import (
    Bill,
    ContractCall,
    Feeder,
    FeederPeriod,
    FeederState,
    LedgerEvent,
    LedgerInfo,
    Meter,
    MeterState,
    ProducerInfo,
    ProducerState,
    Receipt,
    SignedReading,
    Tariff,
    Topics,
)
from .provider import SessionHTTPProvider
from .signing import domain_separator

_LOGGER = logging.getLogger(__name__)

SUPPORTED_MAJOR_VERSION = 3
NATIVE_SYMBOL = "ETH"
NATIVE_DECIMALS = 18
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
READING_GAS_LIMIT = 400_000  # a period-closing reading costs about 130,000 (make bench)
# A feeder reading costs about 67,000; the first of a period also checks an earlier one's loss.
FEEDER_READING_GAS_LIMIT = 150_000


def meter_topic(meter_id: int) -> str:
    """Topic 1 of every event indexed by this meter first."""
    return "0x" + encode(["uint32"], [meter_id]).hex()


def is_websocket_url(url: str) -> bool:
    return url.lower().startswith(("ws://", "wss://"))


def decode_revert(data: str | bytes | None) -> RevertedError:
    """Name a revert by the contract's custom errors (or Solidity's Error/Panic)."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
    selector, payload = raw[:4], raw[4:]
    if selector == bytes.fromhex("08c379a0"):
        return RevertedError("Error", {"message": decode(["string"], payload)[0]})
    if selector == bytes.fromhex("4e487b71"):
        return RevertedError("Panic", {"code": decode(["uint256"], payload)[0]})
    if (item := ERRORS.get(selector)) is None:
        return RevertedError("Unknown", {"data": "0x" + raw.hex()})
    types = [arg["type"] for arg in item["inputs"]]
    names = [arg["name"] for arg in item["inputs"]]
    try:
        values = decode(types, payload)
    except DecodingError:
        values = ()
    return RevertedError(item["name"], dict(zip(names, values, strict=False)))


def map_error(err: BaseException) -> GridLedgerError:
    """Translate a transport or web3 error into the client's hierarchy."""
    if isinstance(err, TimeoutError):
        return CannotConnectError("the node did not answer in time")
    if isinstance(err, ClientError | OSError | ProviderConnectionError | PersistentConnectionError):
        return CannotConnectError(str(err) or type(err).__name__)
    if isinstance(err, ContractCustomError):
        return decode_revert(cast(str, err.data))
    if isinstance(err, ContractPanicError):
        return RevertedError("Panic", {"message": err.message})
    if isinstance(err, ContractLogicError):
        if isinstance(err.data, str) and len(err.data) >= 10:
            return decode_revert(err.data)
        return RevertedError("Error", {"message": err.message})
    if isinstance(err, BadFunctionCallOutput):
        return NotGridLedgerError(str(err))
    if isinstance(err, Web3RPCError) and "insufficient funds" in err.message.lower():
        return InsufficientFundsError(err.message)
    return GridLedgerError(str(err))


@dataclass
class GridLedgerClient:
    """One contract on one node. Pass Home Assistant's shared session; the client closes only
    what it created."""

    rpc_url: str
    address: str
    session: ClientSession | None = None
    request_timeout: float = 10.0
    expected_chain_id: int | None = None
    info: LedgerInfo | None = field(default=None, init=False)
    _w3: AsyncWeb3[Any] = field(init=False, repr=False)
    _contract: AsyncContract = field(init=False, repr=False)
    _own_session: ClientSession | None = field(default=None, init=False, repr=False)
    _connected: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if not is_address(self.address):
            raise NotGridLedgerError(f"{self.address!r} is not an address")
        self.address = to_checksum_address(self.address)
        if self.is_websocket:
            self._w3 = AsyncWeb3(
                WebSocketProvider(self.rpc_url, request_timeout=self.request_timeout)
            )
        else:
            if self.session is None:
                self._own_session = ClientSession()
            session = self.session or cast(ClientSession, self._own_session)
            self._w3 = AsyncWeb3(SessionHTTPProvider(self.rpc_url, session))
        self._contract = self._w3.eth.contract(address=self.address, abi=GRID_LEDGER_ABI)

    @property
    def is_websocket(self) -> bool:
        return is_websocket_url(self.rpc_url)

    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self._w3

    async def guard[T](self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one node call under the request timeout, mapping every failure."""
        try:
            async with asyncio.timeout(self.request_timeout):
                return await call()
        except (Web3Exception, ClientError, OSError, TimeoutError) as err:
            raise map_error(err) from err
        except ValueError as err:  # a body that is not JSON-RPC
            raise CannotConnectError(f"not a JSON-RPC answer: {err}") from err

    async def _open(self) -> None:
        provider = self._w3.provider
        if not self._connected and isinstance(provider, WebSocketProvider):
            await self.guard(provider.connect)
            self._connected = True

    async def close(self) -> None:
        """Release the WebSocket and any session this client created (never an injected one)."""
        provider = self._w3.provider
        if isinstance(provider, WebSocketProvider) and self._connected:
            await provider.disconnect()
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None
        self._connected = False

    def mark_disconnected(self) -> None:
        """The WebSocket dropped: the next call reconnects."""
        self._connected = False

    async def chain_id(self) -> int:
        await self._open()
        return await self.guard(lambda: self._w3.eth.chain_id)

    async def connect(self) -> LedgerInfo:
        """Check the node, the chain and the contract; learn the payment token."""
        chain_id = await self.chain_id()
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            raise WrongChainError(self.expected_chain_id, chain_id)
        code = await self.guard(lambda: self._w3.eth.get_code(cast(ChecksumAddress, self.address)))
        if not code:
            raise NotGridLedgerError(f"no contract at {self.address}")
        functions = self._contract.functions
        try:
            version = str(await self.guard(functions.VERSION().call))
            separator = bytes(await self.guard(functions.DOMAIN_SEPARATOR().call))
        except RevertedError as err:
            raise NotGridLedgerError(f"{self.address} is not a Grid Ledger") from err
        major = version.split(".", 1)[0]
        if not major.isdigit() or int(major) != SUPPORTED_MAJOR_VERSION:
            raise UnsupportedVersionError(version)
        if separator != domain_separator(chain_id, self.address):
            raise NotGridLedgerError("EIP-712 domain does not match this chain and address")
        token = str(await self.guard(functions.paymentToken().call))
        period_length = int(await self.guard(functions.periodLength().call))
        permit_forever = int(await self.guard(functions.PERMIT_FOREVER().call))
        genesis = int(await self.guard(functions.genesis().call))
        max_clock_skew = int(await self.guard(functions.maxClockSkew().call))
        energy_token: str | None = None
        if "energyToken" in GRID_LEDGER_FUNCTIONS:  # a ledger of the producer half
            try:
                energy_token = str(await self.guard(functions.energyToken().call))
            except RevertedError:  # deployed without its producer functions
                energy_token = ZERO_ADDRESS
        symbol, decimals = NATIVE_SYMBOL, NATIVE_DECIMALS
        payment_token: str | None = None
        if token != ZERO_ADDRESS:
            payment_token = token
            erc20 = self._erc20(token)
            symbol = str(await self.guard(erc20.functions.symbol().call))
            decimals = int(await self.guard(erc20.functions.decimals().call))
        self.info = LedgerInfo(
            chain_id=chain_id,
            address=self.address,
            version=version,
            payment_token=payment_token,
            token_symbol=symbol,
            token_decimals=decimals,
            period_length=period_length,
            permit_forever=permit_forever,
            genesis=genesis,
            max_clock_skew=max_clock_skew,
            energy_token=None if energy_token in (None, ZERO_ADDRESS) else energy_token,
        )
        return self.info

    def _erc20(self, token: str) -> AsyncContract:
        return self._w3.eth.contract(address=to_checksum_address(token), abi=ERC20_ABI)

    async def meter(self, meter_id: int, block: BlockIdentifier = "latest") -> Meter:
        """A registered meter; `RevertedError('UnknownMeter')` when there is none."""
        await self._open()
        raw = await self.guard(
            lambda: self._contract.functions.meter(meter_id).call(block_identifier=block)
        )
        return Meter.from_tuple(meter_id, tuple(raw))

    async def meter_state(self, meter_id: int, wallet: str) -> MeterState:
        """The meter, its money and its permit, all read at the same block."""
        if self.info is None:
            await self.connect()
        info = cast(LedgerInfo, self.info)
        block = await self.guard(lambda: self._w3.eth.get_block("latest"))
        number, timestamp = int(block["number"]), int(block["timestamp"])
        meter = await self.meter(meter_id, number)
        functions = self._contract.functions
        account = to_checksum_address(wallet)

        def at(fn: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: fn.call(block_identifier=number)

        calls: list[Callable[[], Awaitable[Any]]] = [
            at(functions.meterBalance(meter_id)),
            at(functions.amountDue(meter_id)),
            at(functions.billOf(meter_id)),
            at(functions.permitUntil(meter_id)),
            at(functions.priceAt(meter.tariff_id, timestamp)),
            lambda: self._w3.eth.get_balance(account, block_identifier=number),
        ]
        if info.payment_token is not None:
            calls.append(at(self._erc20(info.payment_token).functions.balanceOf(account)))
        results = await asyncio.gather(*(self.guard(call) for call in calls))
        producer = None
        if info.energy_token is not None:
            producer = await self._producer_state(
                meter_id, meter.tariff_id, account, info.energy_token, number
            )
        bill = tuple(results[2])
        return MeterState(
            block_number=number,
            block_timestamp=timestamp,
            meter=meter,
            balance=int(results[0]),
            amount_due=int(results[1]),
            bill=Bill(int(bill[0]), int(bill[1]), int(bill[2]), int(bill[3])),
            permit_until=int(results[3]),
            price_per_kwh=int(results[4]),
            wallet_coin=int(results[5]),
            wallet_token=int(results[6]) if info.payment_token is not None else None,
            producer=producer,
        )

    async def _producer_state(
        self, meter_id: int, tariff_id: int, account: str, token: str, block: int
    ) -> ProducerState:
        functions = self._contract.functions
        calls = (
            functions.producerInfo(meter_id),
            functions.producerTariff(tariff_id),
            self._erc20(token).functions.balanceOf(account),
            functions.proceedsOf(account),
        )
        info, tariff, balance, proceeds = await asyncio.gather(
            *(self.guard(partial(fn.call, block_identifier=block)) for fn in calls)
        )
        feed_in, network_charge = tuple(tariff)
        return ProducerState(
            info=ProducerInfo.from_tuple(tuple(info)),
            token_balance_wh=int(balance),
            feed_in_price_per_kwh=int(feed_in),
            network_charge_per_kwh=int(network_charge),
            proceeds=int(proceeds),
        )

    async def feeder(self, feeder_id: int, block: BlockIdentifier = "latest") -> Feeder:
        """A registered feeder; `RevertedError('UnknownFeeder')` when there is none."""
        await self._open()
        raw = await self.guard(
            lambda: self._contract.functions.feeder(feeder_id).call(block_identifier=block)
        )
        return Feeder.from_tuple(feeder_id, tuple(raw))

    async def feeder_state(self, feeder_id: int, wallet: str) -> FeederState:
        """The feeder, its open period and the period compared with its children, and the
        coin of the wallet that pays its readings' gas, all read at the same block."""
        if self.info is None:
            await self.connect()
        info = cast(LedgerInfo, self.info)
        block = await self.guard(lambda: self._w3.eth.get_block("latest"))
        number, timestamp = int(block["number"]), int(block["timestamp"])
        feeder = await self.feeder(feeder_id, number)
        current = info.period_of(timestamp)
        periods = (current, max(current - 2, 0), max(current - 3, 0))
        functions = self._contract.functions
        calls: list[Callable[[], Awaitable[Any]]] = [
            partial(functions.feederPeriod(feeder_id, period).call, block_identifier=number)
            for period in periods
        ]
        account = to_checksum_address(wallet)
        calls.append(lambda: self._w3.eth.get_balance(account, block_identifier=number))
        *raw, coin = await asyncio.gather(*(self.guard(call) for call in calls))
        open_, recent, older = (
            FeederPeriod(period, int(fp[0]), int(fp[1]), bool(fp[2]))
            for period, fp in zip(periods, raw, strict=True)
        )
        return FeederState(
            block_number=number,
            block_timestamp=timestamp,
            feeder=feeder,
            open=open_,
            # The older verdict stands until the feeder's next reading checks the recent period.
            compared=older if older.checked and not recent.checked else recent,
            wallet_coin=int(coin),
        )

    async def low_credit_threshold(self, tariff_id: int) -> int:
        """The prepaid credit (base units) under which the contract emits `LowCredit`."""
        return (await self.tariff(tariff_id)).low_credit_threshold

    async def tariff(self, tariff_id: int) -> Tariff:
        """The tariff version in force now, with its time-of-use bands."""
        await self._open()
        return Tariff.from_tuple(await self.guard(self._contract.functions.tariff(tariff_id).call))

    async def coin_balance(self, account: str) -> int:
        await self._open()
        return int(await self.guard(lambda: self._w3.eth.get_balance(to_checksum_address(account))))

    async def block_number(self) -> int:
        await self._open()
        return int(await self.guard(lambda: self._w3.eth.block_number))

    async def latest_block_timestamp(self) -> int:
        """The chain's clock: the latest block's timestamp."""
        await self._open()
        block = await self.guard(lambda: self._w3.eth.get_block("latest"))
        return int(block["timestamp"])

    def submit_reading_call(self, signed: SignedReading) -> ContractCall:
        """The contract call that submits one signed reading (bidirectional when it carries an
        export register)."""
        reading = signed.reading
        fields: tuple[int, ...]
        if reading.export_wh is None:
            name, fields = "submitReading", (reading.meter_id, reading.wh, reading.timestamp)
        else:
            name = "submitBidirectionalReading"
            fields = (reading.meter_id, reading.wh, reading.export_wh, reading.timestamp)
        # Estimated against the latest block, a reading mined in the next period closes the
        # open one there, which costs several times the estimate: it is sent with enough gas
        # for that (only the gas used is paid).
        return ContractCall(
            self.address,
            self._contract.encode_abi(name, [fields, signed.signature]),
            min_gas=READING_GAS_LIMIT,
        )

    def submit_feeder_reading_call(self, signed: SignedReading) -> ContractCall:
        """The contract call that submits one signed feeder reading (sent with enough gas for
        the first reading of a period, which checks an earlier period's loss)."""
        reading = signed.reading
        fields = (reading.meter_id, reading.wh, reading.timestamp)
        return ContractCall(
            self.address,
            self._contract.encode_abi("submitFeederReading", [fields, signed.signature]),
            min_gas=FEEDER_READING_GAS_LIMIT,
        )

    def ledger_call(self, function: str, *args: Any) -> ContractCall:
        """A call of one of the ledger's functions, for the wallet to send."""
        return ContractCall(self.address, self._contract.encode_abi(function, list(args)))

    async def receipt_events(self, receipt: Receipt, meter_id: int) -> list[LedgerEvent]:
        """The ledger's events of `meter_id` that one mined transaction emitted."""
        topics: Topics = [None, meter_topic(meter_id)]
        events = await self.logs(receipt.block_number, receipt.block_number, topics)
        return [event for event in events if event.tx_hash.lower() == receipt.tx_hash.lower()]

    async def logs(
        self,
        from_block: int,
        to_block: int,
        topics: Topics,
        contract: AsyncContract | None = None,
        events: dict[bytes, str] | None = None,
    ) -> list[LedgerEvent]:
        """A contract's decoded logs in a block range, filtered by topics: the ledger's, or
        another `contract` on the same node (the energy auction) with its `events` by topic."""
        await self._open()
        params: dict[str, Any] = {
            "address": (contract or self._contract).address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": topics,
        }
        raw = await self.guard(lambda: self._w3.eth.get_logs(cast(Any, params)))
        return [
            event for log in raw if (event := self.decode_log(log, contract, events)) is not None
        ]

    def decode_log(
        self,
        log: LogReceipt,
        contract: AsyncContract | None = None,
        events: dict[bytes, str] | None = None,
    ) -> LedgerEvent | None:
        """Decode one of a contract's logs (the ledger's unless `contract` and its `events` are
        given); None for logs it does not declare."""
        table = EVENTS if events is None else events
        contract = contract or self._contract
        topics = log["topics"]
        if not topics or (name := table.get(bytes(topics[0]))) is None:
            return None
        data = contract.events[name]().process_log(log)
        return LedgerEvent(
            name=name,
            args=dict(data["args"]),
            block_number=int(log["blockNumber"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            log_index=int(log["logIndex"]),
        )
