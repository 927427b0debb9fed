// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {GridLedgerBase} from "./GridLedgerBase.sol";
import {GridLedgerExtension} from "./GridLedgerExtension.sol";
import {MeterState} from "./libraries/MeterState.sol";

/// @title GridLedger
/// @notice One operator's electricity ledger: signed readings, tariffs, bills, payments and supply permits.
/// Its full interface is `IGridLedger`: the hot paths (readings, payments) run here, operator functions and views in
/// `GridLedgerExtension`, reached through `fallback` with `delegatecall` on this contract's storage (one contract
/// would exceed the 24 KiB code size limit).
/// @dev Gas: a flat-tariff postpaid reading reads and writes one meter slot and reads the schedule slot (pause
/// flag); everything else (billing, feeder sums, prepaid checks) happens lazily when a period closes or a
/// threshold register is reached.
contract GridLedger is GridLedgerBase {
    using MeterState for uint256[5];
    using SafeERC20 for IERC20;

    /// @notice The contract that serves operator functions and views on this contract's storage.
    address public immutable extension;

    /// @param c Deployment parameters; `ext` must have been deployed with the same.
    /// @param ext The `GridLedgerExtension`.
    constructor(Config memory c, address ext) GridLedgerBase(c) {
        if (ext.code.length == 0 || GridLedgerExtension(ext).configHash() != configHash) revert InvalidConfig();
        extension = ext;
    }

    /// @notice Serves the rest of `IGridLedger` from the extension, on this contract's storage.
    fallback() external {
        address ext = extension;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), ext, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice See `IGridLedger.submitReading`.
    function submitReading(Reading calldata r, bytes calldata sig) external whenNotPaused {
        (uint8 v, bytes32 rr, bytes32 s) = ECDSA.parseCalldata(sig);
        (address recovered,,) = ECDSA.tryRecover(_readingDigest(r.meterId, r.wh, r.timestamp), v, rr, s);
        bytes4 err = _acceptReading(r.meterId, r.wh, r.timestamp, recovered);
        if (err != bytes4(0)) _revertReading(err, r, recovered);
    }

    /// @notice See `IGridLedger.submitReadings`.
    function submitReadings(SignedReading[] calldata readings) external whenNotPaused returns (uint256 accepted) {
        for (uint256 i; i < readings.length; ++i) {
            SignedReading calldata sr = readings[i];
            Reading calldata r = sr.reading;
            (address recovered,,) = ECDSA.tryRecover(_readingDigest(r.meterId, r.wh, r.timestamp), sr.r, sr.vs);
            bytes4 err = _acceptReading(r.meterId, r.wh, r.timestamp, recovered);
            if (err == bytes4(0)) {
                // Bounded by the array length.
                unchecked {
                    ++accepted;
                }
            } else {
                emit ReadingRejected(r.meterId, err);
            }
        }
    }

    /// @notice See `IGridLedger.submitFeederReading`.
    function submitFeederReading(FeederReading calldata r, bytes calldata sig) external whenNotPaused {
        FeederSlot storage f = _feeders[r.feederId];
        address signer = f.signer;
        if (signer == address(0)) revert UnknownFeeder(r.feederId);
        if (r.timestamp > block.timestamp + maxClockSkew) {
            revert FutureReading(r.feederId, r.timestamp, block.timestamp);
        }
        uint32 lastTs = f.lastTs;
        if (r.timestamp <= lastTs) revert StaleReading(r.feederId, r.timestamp, lastTs);
        uint64 lastWh = f.lastWh;
        if (r.wh < lastWh) revert RegisterDecreased(r.feederId, r.wh, lastWh);
        (uint8 v, bytes32 rr, bytes32 s) = ECDSA.parseCalldata(sig);
        (address recovered,,) = ECDSA.tryRecover(_feederReadingDigest(r.feederId, r.wh, r.timestamp), v, rr, s);
        if (recovered != signer) revert InvalidSignature(r.feederId, recovered);

        uint32 period = _periodOf(r.timestamp);
        if (f.initialized) {
            uint64 energy = r.wh - lastWh;
            _feederPeriods[r.feederId][period].feederWh += energy;
            uint32 parentId = f.parentId;
            if (parentId != 0) _feederPeriods[parentId][period].childrenWh += energy;
        }
        f.lastWh = r.wh;
        f.lastTs = r.timestamp;
        f.initialized = true;
        emit FeederReadingAccepted(r.feederId, period, r.wh, r.timestamp);

        // The first reading of a new period checks the period before the last one: its meters have rolled over.
        if (period > 2 && period > _periodOf(lastTs) && !_feederPeriods[r.feederId][period - 2].checked) {
            _checkLoss(r.feederId, period - 2);
        }
    }

    /// @notice See `IGridLedger.settle`.
    function settle(uint32 meterId) external {
        uint256[5] storage s = _meterSlots(meterId);
        MeterState.Meter memory m = s.load();
        uint32 current = _periodOf(block.timestamp);
        if (current > m.openPeriod) {
            _close(meterId, m, current);
            s.store(m);
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

    /// @notice See `IGridLedger.payBillWithPermit`.
    function payBillWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        _permitToken(amount, deadline, v, r, s);
        _payBill(meterId, 0, amount);
    }

    /// @notice See `IGridLedger.topUp`.
    function topUp(uint32 meterId, uint256 amount) external payable whenNotPaused nonReentrant {
        if (paymentToken == address(0) && msg.value != amount) revert InsufficientPayment(meterId, msg.value, amount);
        _topUp(meterId, amount);
    }

    /// @notice See `IGridLedger.topUpWithPermit`.
    function topUpWithPermit(uint32 meterId, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        _permitToken(amount, deadline, v, r, s);
        _topUp(meterId, amount);
    }

    /// @notice See `IGridLedger.withdraw`.
    function withdraw(uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        address to = treasury;
        uint256 available =
            paymentToken == address(0) ? address(this).balance : IERC20(paymentToken).balanceOf(address(this));
        if (amount > available) revert WithdrawalExceedsBalance(amount, available);
        emit Withdrawn(to, amount);
        if (paymentToken == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            IERC20(paymentToken).safeTransfer(to, amount);
        }
    }

    /// @notice See `IGridLedger.pause`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice See `IGridLedger.unpause`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice See `IGridLedger.VERSION`.
    function VERSION() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @notice See `IGridLedger.DOMAIN_SEPARATOR`.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
