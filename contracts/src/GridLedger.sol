// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Proxy} from "@openzeppelin/contracts/proxy/Proxy.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {IGridLedgerFeedersAndViews, IGridLedgerHotPaths} from "./interfaces/IGridLedger.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";
import {IGridLedgerProducerAccounts, IGridLedgerProducerReadings} from "./interfaces/IGridLedgerProducers.sol";
import {GridLedgerExtension} from "./GridLedgerExtension.sol";
import {GridLedgerProducers} from "./GridLedgerProducers.sol";
import {GridLedgerSlowPath} from "./GridLedgerSlowPath.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedger
/// @notice One operator's electricity ledger: signed readings, tariffs, bills, payments and supply permits.
/// Its full interface is `IGridLedger` and `IGridLedgerProducers`: the hot paths (readings of both kinds, single and
/// batched, bill payments) and the feeder periods a settlement reads run here; the producer accounts (energy tokens,
/// redemption, sell-back) in `GridLedgerProducers`, operator functions and top-ups in `GridLedgerExtension`,
/// feeders, the schedule and views in `GridLedgerFeedersAndViews`, reached
/// through `Proxy` fallbacks with `delegatecall` on this contract's storage (one contract would exceed the 24 KiB code
/// size limit). A reading's slow path runs in `GridLedgerSlowPath`, also by `delegatecall`, from the reading functions
/// only.
/// @dev Gas: a flat-tariff postpaid reading reads and writes one meter slot and reads the schedule slot (pause
/// flag); everything else (billing, feeder sums, prepaid checks) happens lazily when a period closes or a
/// threshold register is reached.
contract GridLedger is IGridLedgerHotPaths, IGridLedgerProducerReadings, GridLedgerBase, Proxy {
    using MeterState for uint256[5];

    /// @notice The contract that serves operator functions and views on this contract's storage.
    address public immutable extension;
    /// @dev The extension's `views`: feeder readings go to it in one hop rather than through the extension's fallback.
    address internal immutable _feederReadings;
    /// @notice The contract that serves the producer accounts on this contract's storage.
    address public immutable producers;
    /// @notice The contract that runs readings' slow path on this contract's storage (not reachable by the fallback).
    address public immutable slowPath;

    /// @param c Deployment parameters; `ext` and `prod` must have been deployed with the same.
    /// @param ext The `GridLedgerExtension`.
    /// @param prod The `GridLedgerProducers`; its energy token (if any) must name this ledger as its minter.
    constructor(Config memory c, address ext, address prod) GridLedgerBase(c) {
        if (ext.code.length == 0 || GridLedgerExtension(payable(ext)).configHash() != configHash) {
            revert InvalidConfig();
        }
        if (prod.code.length == 0 || GridLedgerProducers(payable(prod)).configHash() != configHash) {
            revert InvalidConfig();
        }
        address token = GridLedgerProducers(payable(prod)).energyToken();
        if (token != address(0) && IEnergyToken(token).ledger() != address(this)) revert InvalidConfig();
        extension = ext;
        _feederReadings = GridLedgerExtension(payable(ext)).views();
        producers = prod;
        slowPath = address(new GridLedgerSlowPath(c));
    }

    /// @dev `Proxy`'s fallback serves the producer accounts from `producers`, feeder readings from the extension's
    /// `views` and the rest of `IGridLedger` from the extension, on this contract's storage: one hop each (the
    /// extension's fallback would be a second one for feeder readings). Feeder readings, the fallback's frequent
    /// call, are told apart first, so that they do not pay for the producer functions' comparisons.
    function _implementation() internal view override returns (address) {
        // Compared as numbers: a `bytes4` constant is pushed as a 32-byte word.
        uint32 sel = uint32(msg.sig);
        if (sel == uint32(IGridLedgerFeedersAndViews.submitFeederReading.selector)) return _feederReadings;
        if (
            sel == uint32(IGridLedgerProducerAccounts.claimTokens.selector)
                || sel == uint32(IGridLedgerProducerAccounts.redeemTokens.selector)
                || sel == uint32(IGridLedgerProducerAccounts.sellBack.selector)
                || sel == uint32(IGridLedgerProducerAccounts.withdrawProceeds.selector)
                || sel == uint32(IGridLedgerProducerAccounts.enableExport.selector)
                || sel == uint32(IGridLedgerProducerAccounts.setRedeemTokens.selector)
                || sel == uint32(IGridLedgerProducerAccounts.depositFeedInFunds.selector)
                || sel == uint32(IGridLedgerProducerAccounts.withdrawFeedInFunds.selector)
                || sel == uint32(IGridLedgerProducerAccounts.setProducerTariff.selector)
                || sel == uint32(IGridLedgerProducerAccounts.energyToken.selector)
                || sel == uint32(IGridLedgerProducerAccounts.BIDIRECTIONAL_READING_TYPEHASH.selector)
                || sel == uint32(IGridLedgerProducerAccounts.bidirectionalReadingDigest.selector)
                || sel == uint32(IGridLedgerProducerAccounts.producerInfo.selector)
                || sel == uint32(IGridLedgerProducerAccounts.producerTariff.selector)
                || sel == uint32(IGridLedgerProducerAccounts.feedInFunds.selector)
                || sel == uint32(IGridLedgerProducerAccounts.proceedsOf.selector)
                || sel == uint32(IGridLedgerProducerAccounts.enablePlant.selector)
                || sel == uint32(IGridLedgerProducerAccounts.setPlantOwner.selector)
                || sel == uint32(IGridLedgerProducerAccounts.claimPlantTokens.selector)
                || sel == uint32(IGridLedgerProducerAccounts.plantInfo.selector)
        ) return producers;
        return extension;
    }

    /// @notice See `IGridLedger.submitReading`.
    function submitReading(Reading calldata r, bytes calldata sig) external whenNotPaused {
        (uint8 v, bytes32 rr, bytes32 s) = ECDSA.parseCalldata(sig);
        (bytes4 err, address recovered, bool slow,) =
            _acceptReading(r.meterId, r.wh, NO_EXPORT, r.timestamp, rr, _compactVs(v, s));
        if (err != bytes4(0)) _revertReading(err, r.meterId, r.wh, NO_EXPORT, r.timestamp, recovered);
        if (slow) _applyReadingSlowPath(r.meterId, r.wh, r.timestamp);
        emit ReadingAccepted(r.meterId, r.wh, r.timestamp);
    }

    /// @notice See `IGridLedgerProducers.submitBidirectionalReading`.
    function submitBidirectionalReading(BidirectionalReading calldata r, bytes calldata sig) external whenNotPaused {
        (uint8 v, bytes32 rr, bytes32 s) = ECDSA.parseCalldata(sig);
        (bytes4 err, address recovered, bool slow, uint256 exported) =
            _acceptReading(r.meterId, r.importWh, r.exportWh, r.timestamp, rr, _compactVs(v, s));
        if (err != bytes4(0)) _revertReading(err, r.meterId, r.importWh, r.exportWh, r.timestamp, recovered);
        if (slow) {
            _applyReadingSlowPath(r.meterId, r.importWh, r.timestamp);
            _storeExport(r.meterId, r.exportWh);
        }
        emit BidirectionalReadingAccepted(r.meterId, r.importWh, r.exportWh, r.timestamp, uint64(exported));
    }

    /// @notice See `IGridLedgerProducers.submitBidirectionalReadings`.
    function submitBidirectionalReadings(SignedBidirectionalReading[] calldata readings)
        external
        whenNotPaused
        returns (uint256 accepted)
    {
        for (uint256 i; i < readings.length; ++i) {
            SignedBidirectionalReading calldata sr = readings[i];
            BidirectionalReading calldata r = sr.reading;
            // Each field read (and validated) once: the event repeats them.
            (uint32 meterId, uint64 importWh, uint64 exportWh, uint32 ts) =
                (r.meterId, r.importWh, r.exportWh, r.timestamp);
            (bytes4 err,, bool slow, uint256 exported) = _acceptReading(meterId, importWh, exportWh, ts, sr.r, sr.vs);
            if (slow) {
                // The export register is stored only once the rest of the reading was.
                err = _applyIsolated(meterId, importWh, ts);
                if (err == bytes4(0)) _storeExport(meterId, exportWh);
            }
            if (err == bytes4(0)) {
                emit BidirectionalReadingAccepted(meterId, importWh, exportWh, ts, uint64(exported));
                // Bounded by the array length.
                unchecked {
                    ++accepted;
                }
            } else {
                emit ReadingRejected(meterId, err);
            }
        }
    }

    /// @notice See `IGridLedger.submitReadings`.
    function submitReadings(SignedReading[] calldata readings) external whenNotPaused returns (uint256 accepted) {
        for (uint256 i; i < readings.length; ++i) {
            SignedReading calldata sr = readings[i];
            // Each field read (and validated) once: the event repeats them.
            (uint32 meterId, uint64 wh, uint32 ts) = (sr.reading.meterId, sr.reading.wh, sr.reading.timestamp);
            (bytes4 err,, bool slow,) = _acceptReading(meterId, wh, NO_EXPORT, ts, sr.r, sr.vs);
            if (slow) err = _applyIsolated(meterId, wh, ts);
            if (err == bytes4(0)) {
                emit ReadingAccepted(meterId, wh, ts);
                // Bounded by the array length.
                unchecked {
                    ++accepted;
                }
            } else {
                emit ReadingRejected(meterId, err);
            }
        }
    }

    /// @notice See `IGridLedger.feederPeriod`.
    function feederPeriod(uint32 feederId, uint32 period) external view returns (FeederPeriod memory fp) {
        fp = _feederPeriods[feederId][period];
        fp.feederWh = _feederWh(feederId, period);
    }

    /// @notice See `IGridLedger.applyBatchedReading`.
    function applyBatchedReading(uint32 meterId, uint64 wh, uint32 timestamp) external {
        if (msg.sender != address(this)) revert OnlyLedger();
        _applyReadingSlowPath(meterId, wh, timestamp);
    }

    /// @dev `_applyReadingSlow`, run in `slowPath` on this contract's storage.
    function _applyReadingSlowPath(uint32 meterId, uint64 wh, uint32 timestamp) private {
        _runSlowPath(abi.encodeCall(GridLedgerSlowPath.applyReadingSlow, (meterId, wh, timestamp)));
    }

    /// @dev Runs `call` in `slowPath` on this contract's storage; its revert data is passed on unchanged.
    function _runSlowPath(bytes memory call) private {
        (bool ok, bytes memory reason) = slowPath.delegatecall(call);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
    }

    /// @dev Runs the slow path of a batched reading as a call: whatever reverts skips this reading only.
    function _applyIsolated(uint32 meterId, uint64 wh, uint32 timestamp) private returns (bytes4) {
        try this.applyBatchedReading(meterId, wh, timestamp) {
            return bytes4(0);
        } catch (bytes memory reason) {
            return reason.length >= 4 ? bytes4(reason) : ReadingFailed.selector;
        }
    }

    /// @notice See `IGridLedger.payBill`.
    function payBill(uint32 meterId) external payable whenNotPaused {
        // A native payment makes no external call, so only the token payment needs the reentrancy guard.
        if (paymentToken == address(0)) _payBill(meterId, msg.value, type(uint256).max);
        else _payBillGuarded(meterId);
    }

    function _payBillGuarded(uint32 meterId) private nonReentrant {
        _payBill(meterId, msg.value, type(uint256).max);
    }

    /// @dev `_payBillOpen`, else `_payBillSlow` in `slowPath`.
    function _payBill(uint32 meterId, uint256 value, uint256 maxAmount) private {
        if (!_payBillOpen(meterId, value, maxAmount)) {
            _runSlowPath(abi.encodeCall(GridLedgerSlowPath.payBillSlow, (meterId, value, maxAmount)));
        }
    }

    /// @notice See `IGridLedger.payBillWithPermit`.
    function payBillWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        _permitToken(amount, deadline, v, r, s);
        _payBill(meterId, 0, amount);
    }
}
