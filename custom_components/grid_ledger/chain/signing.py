"""Keys and EIP-712 reading signatures.

Signing goes through coincurve (libsecp256k1) when it is installed, an optional speed-up: it has
no wheel for every Python Home Assistant runs on, so it is not a requirement. Without it eth-keys'
pure-Python backend signs the same bytes (both use RFC 6979 nonces), in a few milliseconds, which
a household's few readings an hour can afford.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_keys.backends.base import BaseECCBackend
from eth_keys.backends.coincurve import CoinCurveECCBackend, is_coincurve_available
from eth_keys.backends.native.main import NativeECCBackend
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from .errors import InvalidKeyError
from .models import Reading, SignedReading

DOMAIN_NAME = "GridLedger"
DOMAIN_VERSION = "1"
DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
READING_TYPEHASH = keccak(b"Reading(uint32 meterId,uint64 wh,uint32 timestamp)")
BIDIRECTIONAL_READING_TYPEHASH = keccak(
    b"BidirectionalReading(uint32 meterId,uint64 importWh,uint64 exportWh,uint32 timestamp)"
)
FEEDER_READING_TYPEHASH = keccak(b"FeederReading(uint32 feederId,uint64 wh,uint32 timestamp)")


def ecc_backend(*, coincurve: bool | None = None) -> BaseECCBackend:
    """libsecp256k1 through coincurve when it is importable (or `coincurve=True`), else the
    pure-Python backend."""
    if coincurve is None:
        coincurve = is_coincurve_available()
    return CoinCurveECCBackend() if coincurve else NativeECCBackend()


ECC_BACKEND = ecc_backend()


def parse_private_key(value: str, backend: BaseECCBackend = ECC_BACKEND) -> PrivateKey:
    """Parse a 32-byte hex private key, with or without `0x`."""
    text = value.strip().removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(text)
        if len(raw) != 32:
            raise ValueError("a private key is 32 bytes")
        return PrivateKey(raw, backend=backend)
    except (ValueError, Exception) as err:
        raise InvalidKeyError("not a private key") from err


def generate_private_key() -> str:
    """A new random private key as 0x-hex."""
    return "0x" + PrivateKey(secrets.token_bytes(32), backend=ECC_BACKEND).to_bytes().hex()


def address_of(private_key: str) -> str:
    """The checksummed address of a private key."""
    return str(parse_private_key(private_key).public_key.to_checksum_address())


def decrypt_keystore(keystore: str | dict[str, Any], password: str) -> str:
    """Decrypt a Web3 Secret Storage (keystore v3) file; slow by design (scrypt), so run it in an
    executor."""
    try:
        data = json.loads(keystore) if isinstance(keystore, str) else keystore
        raw: bytes = Account.decrypt(data, password)
    except (ValueError, TypeError, KeyError) as err:
        raise InvalidKeyError("keystore could not be decrypted") from err
    return "0x" + raw.hex()


def domain_separator(chain_id: int, contract: str) -> bytes:
    """The contract's EIP-712 domain separator, computed locally."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                DOMAIN_TYPEHASH,
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                chain_id,
                to_checksum_address(contract),
            ],
        )
    )


class ReadingSigner:
    """Signs readings with a meter key for one contract on one chain."""

    def __init__(
        self,
        private_key: str,
        chain_id: int,
        contract: str,
        *,
        backend: BaseECCBackend = ECC_BACKEND,
    ) -> None:
        self._key = parse_private_key(private_key, backend)
        self.address = str(self._key.public_key.to_checksum_address())
        self._domain = domain_separator(chain_id, contract)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address})"

    def digest(self, reading: Reading) -> bytes:
        """The EIP-712 digest: of a `BidirectionalReading` when the reading carries an export
        register, of a `Reading` otherwise."""
        if reading.export_wh is None:
            types = ["bytes32", "uint32", "uint64", "uint32"]
            values = [READING_TYPEHASH, reading.meter_id, reading.wh, reading.timestamp]
        else:
            types = ["bytes32", "uint32", "uint64", "uint64", "uint32"]
            values = [
                BIDIRECTIONAL_READING_TYPEHASH,
                reading.meter_id,
                reading.wh,
                reading.export_wh,
                reading.timestamp,
            ]
        return self._digest(types, values)

    def _digest(self, types: list[str], values: list[Any]) -> bytes:
        return keccak(b"\x19\x01" + self._domain + keccak(encode(types, values)))

    def sign(self, reading: Reading) -> SignedReading:
        signature = self._key.sign_msg_hash(self.digest(reading))
        raw = (
            signature.r.to_bytes(32, "big")
            + signature.s.to_bytes(32, "big")
            + bytes([signature.v + 27])
        )
        return SignedReading(reading, raw)


class FeederReadingSigner(ReadingSigner):
    """Signs a feeder's readings (`FeederReading`: the feeder's id in `meter_id`, one register)
    with the feeder's key."""

    def digest(self, reading: Reading) -> bytes:
        values = [FEEDER_READING_TYPEHASH, reading.meter_id, reading.wh, reading.timestamp]
        return self._digest(["bytes32", "uint32", "uint64", "uint32"], values)
