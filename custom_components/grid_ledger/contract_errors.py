"""The ledger's custom errors as sentences that say what to do (keys of `exceptions` in
translations/en.json), for wherever a revert reaches the household."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from .chain import RevertedError
from .const import DOMAIN
from .units import display_amount, kwh

NOT_ALLOWED: Final = "contract_not_allowed"
OPERATOR_SETUP: Final = "contract_operator_setup"
AMOUNT_TOO_LARGE: Final = "contract_amount_too_large"
TRANSFER_FAILED: Final = "contract_transfer_failed"
UNKNOWN: Final = "contract_rejected"
"""A revert the ABI does not declare (a panic, a plain `require`): named in the message."""

CONTRACT_ERRORS: Final[dict[str, str]] = {
    # Readings.
    "FutureReading": "contract_future_reading",
    "StaleReading": "contract_stale_reading",
    "RegisterDecreased": "contract_register_decreased",
    "RegisterOutOfRange": "contract_register_out_of_range",
    "ImplausiblePower": "contract_implausible_power",
    "InvalidSignature": "contract_invalid_signature",
    "UnknownMeter": "contract_unknown_meter",
    "ReadingFailed": "contract_reading_failed",
    "OnlyLedger": NOT_ALLOWED,
    # A retired meter and its credit.
    "RetiredMeter": "contract_retired_meter",
    "NotRetired": "contract_not_retired",
    "NotPayer": "contract_not_payer",
    "NoCredit": "contract_no_credit",
    # Payments.
    "NothingDue": "nothing_due",
    "InsufficientPayment": "contract_insufficient_payment",
    "WrongCurrency": "contract_wrong_currency",
    "ZeroAmount": "contract_zero_amount",
    "AmountOverflow": AMOUNT_TOO_LARGE,
    "AmountOutOfRange": AMOUNT_TOO_LARGE,
    "SafeCastOverflowedUintDowncast": AMOUNT_TOO_LARGE,
    "SafeERC20FailedOperation": TRANSFER_FAILED,
    "NativeTransferFailed": TRANSFER_FAILED,
    "PaymentTokenShortfall": "contract_token_shortfall",
    "ReentrancyGuardReentrantCall": "contract_reentrant_call",
    # Export registers and energy tokens.
    "ImportOnlyMeter": "contract_import_only_meter",
    "ExportRegisterDecreased": "contract_export_register_decreased",
    "ImplausibleExportPower": "contract_implausible_export_power",
    "InsufficientTokens": "more_than_held",
    "NothingToClaim": "nothing_to_claim",
    "NothingToRedeem": "nothing_to_redeem",
    "FeedInFundsExhausted": "feed_in_funds_exhausted",
    "NoFeedInPrice": "no_feed_in_price",
    "NoProceeds": "contract_no_proceeds",
    "NoEnergyToken": "no_energy_token",
    "ExportRegisterNotExchanged": OPERATOR_SETUP,
    # The energy market (`EnergyAuction`).
    "AmountTooLarge": "contract_lot_too_large",
    "PriceOutOfRange": "contract_price_out_of_range",
    "InvalidDuration": "contract_invalid_duration",
    "UnknownLot": "contract_unknown_lot",
    "LotClosed": "contract_lot_closed",
    "LotEnded": "contract_lot_ended",
    "LotStillOpen": "contract_lot_still_open",
    "SellerCannotBid": "contract_seller_cannot_bid",
    "BidTooLow": "contract_bid_too_low",
    "NotSeller": "contract_not_seller",
    "LotHasBid": "contract_lot_has_bid",
    "WrongPayment": TRANSFER_FAILED,
    "NoPaymentToken": OPERATOR_SETUP,
    "InsufficientAllowance": TRANSFER_FAILED,
    "InsufficientBalance": "contract_bid_unfunded",
    "NothingToWithdraw": "nothing_to_withdraw",
    "NotLedgerAdmin": NOT_ALLOWED,
    "NotFeeRecipient": NOT_ALLOWED,
    "FeeTooHigh": OPERATOR_SETUP,
    # The settlement (`Settlement`).
    "PeriodAlreadySettled": "contract_period_already_settled",
    "SettlementTooEarly": "contract_settlement_too_early",
    "NotADistributor": "contract_not_a_distributor",
    "ZeroPlantEnergy": "contract_zero_plant_energy",
    "LossOutOfRange": "contract_loss_out_of_range",
    "DepositShortfall": "contract_deposit_shortfall",
    "WithdrawalExceedsOwed": "contract_withdrawal_exceeds_owed",
    "FeederWithoutParent": OPERATOR_SETUP,
    "NoPlantPrice": OPERATOR_SETUP,
    "TermsOutOfRange": OPERATOR_SETUP,
    "CutoffOutOfRange": OPERATOR_SETUP,
    "MissingLedgerRole": NOT_ALLOWED,
    # The operator's plants.
    "NotAPlant": OPERATOR_SETUP,
    "PlantExists": OPERATOR_SETUP,
    "PlantNotRoot": OPERATOR_SETUP,
    "PlantNotRead": OPERATOR_SETUP,
    "NotPlantOwner": OPERATOR_SETUP,
    # The operator's switch.
    "EnforcedPause": "contract_paused",
    "ExpectedPause": "contract_not_paused",
    # The operator's roles.
    "AccessControlBadConfirmation": NOT_ALLOWED,
    "AccessControlEnforcedDefaultAdminDelay": NOT_ALLOWED,
    "AccessControlEnforcedDefaultAdminRules": NOT_ALLOWED,
    "AccessControlInvalidDefaultAdmin": NOT_ALLOWED,
    "AccessControlUnauthorizedAccount": NOT_ALLOWED,
    # The operator's set-up of meters, feeders, tariffs and the treasury.
    "FeederExists": OPERATOR_SETUP,
    "MeterExists": OPERATOR_SETUP,
    "UnknownFeeder": OPERATOR_SETUP,
    "UnknownTariff": OPERATOR_SETUP,
    "InvalidBand": OPERATOR_SETUP,
    "TooManyBands": OPERATOR_SETUP,
    "InvalidConfig": OPERATOR_SETUP,
    "InvalidFriendlyWindow": OPERATOR_SETUP,
    "FriendlyWindowChangeTooSoon": OPERATOR_SETUP,
    "LossAlreadyChecked": OPERATOR_SETUP,
    "LossToleranceOutOfRange": OPERATOR_SETUP,
    "MaxPowerOutOfRange": OPERATOR_SETUP,
    "PeriodNotOver": OPERATOR_SETUP,
    "WithdrawalExceedsBalance": OPERATOR_SETUP,
    "ZeroAddress": OPERATOR_SETUP,
    "ZeroId": OPERATOR_SETUP,
    "InvalidShortString": OPERATOR_SETUP,
    "StringTooLong": OPERATOR_SETUP,
}


# The household's own mistakes: asked for something its state does not allow.
VALIDATION: Final = frozenset(
    {
        "InsufficientTokens",
        "NothingToClaim",
        "NothingToRedeem",
        "AmountTooLarge",
        "PriceOutOfRange",
        "InvalidDuration",
        "UnknownLot",
        "LotClosed",
        "LotEnded",
        "LotStillOpen",
        "SellerCannotBid",
        "BidTooLow",
        "NotSeller",
        "LotHasBid",
        "InsufficientBalance",
        "NothingToWithdraw",
        "PeriodAlreadySettled",
        "SettlementTooEarly",
        "NotADistributor",
        "WithdrawalExceedsOwed",
    }
)


def _amount(value: Any, decimals: int) -> str:
    return f"{display_amount(int(value), decimals):g}"


def _when(value: Any) -> str:
    return dt_util.utc_from_timestamp(int(value)).isoformat()


type Placeholders = Callable[[dict[str, Any], int, str], dict[str, str]]
PLACEHOLDERS: Final[dict[str, Placeholders]] = {
    "InsufficientTokens": lambda args, _decimals, _currency: {
        "kwh": f"{kwh(int(args['wh'])):g}",
        "held_kwh": f"{kwh(int(args['available'])):g}",
    },
    "AmountTooLarge": lambda args, _decimals, _currency: {
        "kwh": f"{kwh(int(args['amountWh'])):g}",
        "max_kwh": f"{kwh(int(args['max'])):g}",
    },
    "UnknownLot": lambda args, _decimals, _currency: {"lot_id": str(args["lotId"])},
    "LotClosed": lambda args, _decimals, _currency: {"lot_id": str(args["lotId"])},
    "LotEnded": lambda args, _decimals, _currency: {
        "lot_id": str(args["lotId"]),
        "deadline": _when(args["deadline"]),
    },
    "LotStillOpen": lambda args, _decimals, _currency: {
        "lot_id": str(args["lotId"]),
        "deadline": _when(args["deadline"]),
    },
    "SellerCannotBid": lambda args, _decimals, _currency: {"lot_id": str(args["lotId"])},
    "BidTooLow": lambda args, decimals, currency: {
        "lot_id": str(args["lotId"]),
        "price": _amount(args["pricePerKWh"], decimals),
        "minimum": _amount(args["minPricePerKWh"], decimals),
        "currency": currency,
    },
    "NotSeller": lambda args, _decimals, _currency: {"lot_id": str(args["lotId"])},
    "LotHasBid": lambda args, _decimals, _currency: {"lot_id": str(args["lotId"])},
    "InsufficientBalance": lambda args, decimals, currency: {
        "balance": _amount(args["balance"], decimals),
        "payment": _amount(args["payment"], decimals),
        "currency": currency,
    },
    "PeriodAlreadySettled": lambda args, _decimals, _currency: {
        "period": str(args["period"]),
        "feeder_id": str(args["distributorId"]),
    },
    "SettlementTooEarly": lambda args, _decimals, _currency: {
        "period": str(args["period"]),
        "feeder_id": str(args["distributorId"]),
        "not_before": _when(args["notBefore"]),
    },
    "NotADistributor": lambda args, _decimals, _currency: {
        "period": str(args["period"]),
        "feeder_id": str(args["feederId"]),
    },
    "ZeroPlantEnergy": lambda args, _decimals, _currency: {
        "period": str(args["period"]),
        "plant_id": str(args["plantId"]),
    },
    "DepositShortfall": lambda args, decimals, currency: {
        "needed": _amount(args["needed"], decimals),
        "available": _amount(args["available"], decimals),
        "currency": currency,
    },
    "WithdrawalExceedsOwed": lambda args, decimals, currency: {
        "requested": _amount(args["requested"], decimals),
        "owed": _amount(args["owed"], decimals),
        "currency": currency,
    },
    "FeedInFundsExhausted": lambda args, decimals, currency: {
        "amount": f"{display_amount(int(args['amount']), decimals):g}",
        "funds": f"{display_amount(int(args['funds']), decimals):g}",
        "currency": currency,
    },
}


def contract_error(
    err: RevertedError, *, decimals: int = 0, currency: str = ""
) -> HomeAssistantError:
    """The translated error for a revert (raise it `from err`); `decimals` and `currency`
    are the payment token's, for the errors that name an amount."""
    if (key := CONTRACT_ERRORS.get(err.name)) is not None:
        error = ServiceValidationError if err.name in VALIDATION else HomeAssistantError
        placeholders = None
        if (fill := PLACEHOLDERS.get(err.name)) is not None and err.args_by_name:
            placeholders = fill(err.args_by_name, decimals, currency)
        return error(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=UNKNOWN,
        translation_placeholders={"error": err.name},
    )
