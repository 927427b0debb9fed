// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";
import {IGridLedgerProducerTypes, IGridLedgerProducers} from "../../src/interfaces/IGridLedgerProducers.sol";
import {IEnergyToken} from "../../src/interfaces/IEnergyToken.sol";

/// @dev Producers, consumers and an operator, each trying to gain: forged, replayed and implausible export registers,
/// claims for other meters, payer moves between accrual and claim, redemption and sell-back of more than is held,
/// and an operator taking all it can. Every ledger and token event is read back into ghost books, so the invariants
/// compare the contracts' state with what was signed and paid, not with the contracts' own arithmetic.
contract ProducerHandler is CommonBase, StdUtils {
    uint256 public constant METERS = 5;
    /// @dev Meters 0..2 have an export register (2 prepaid); 3 and 4 are import-only (4 prepaid).
    uint256 public constant PRODUCERS = 3;
    uint256 public constant HOUSEHOLDS = 4;
    uint256 internal constant STRANGER_KEY = 0xBAD;

    IGridLedger public immutable gl;
    IGridLedgerProducers public immutable pgl;
    IEnergyToken public immutable kwh;
    address public immutable admin;
    uint256 public immutable meterKey;
    /// @dev The flat price of every meter's tariff.
    uint64 public immutable price;
    uint32[METERS] public ids = [uint32(31), 32, 33, 41, 42];

    // Ghost books, from events and from what the handler signed and sent.
    uint256 public exportDeltas;
    uint256 public claimedWh;
    uint256 public mintedWh;
    uint256 public burnedWh;
    uint256 public redeemedWh;
    uint256 public soldWh;
    uint256 public moneyIn;
    uint256 public moneyOut;
    mapping(uint32 meterId => uint64) public lastExport;
    mapping(uint32 meterId => uint32) public lastBill;
    mapping(bytes32 reading => bool) internal _signed;
    mapping(bytes32 reading => bool) internal _bad;
    mapping(bytes32 reading => bool) internal _accepted;
    mapping(uint32 meterId => mapping(uint32 period => uint256)) public redeemedOnBill;
    mapping(uint32 meterId => mapping(uint32 period => uint64)) public energyOfBill;
    mapping(uint32 meterId => mapping(uint32 period => uint256)) public offOnBill;
    mapping(uint32 meterId => mapping(uint32 period => uint256)) public redemptionsOnBill;
    mapping(uint32 meterId => uint256) internal _closeRedeemed;
    mapping(uint32 meterId => uint256) internal _closeOff;
    mapping(uint32 meterId => IGridLedgerProducerTypes.BidirectionalReading) internal _lastSent;
    bytes32[METERS] internal _importOnlyBefore;
    // Ghost books per payer: the meter's payer as the handler set it, and the Wh of tokens each address gained (export
    // metered while it paid the meter, pending tokens handed on to it with a meter, transfers to it) and gave up
    // (redeemed, sold back, handed on, transferred). What it holds plus the pending Wh of the meters it pays must be
    // the difference.
    mapping(uint32 meterId => address) public payerOfMeter;
    mapping(address account => uint256) public tokensIn;
    mapping(address account => uint256) public tokensOut;

    // Ghost counters: each must stay 0.
    uint256 public unsignedAccepted;
    uint256 public badAccepted;
    uint256 public acceptedTwice;
    uint256 public deltaMismatches;
    uint256 public honestRejected;
    uint256 public misdirectedClaims;
    uint256 public burnMismatches;
    uint256 public overRedeemedBills;
    uint256 public redemptionCredit;
    uint256 public redemptionOverpriced;
    uint256 public sellBackMismatches;
    uint256 public operatorOverreach;
    uint256 public stuckWithdrawals;
    uint256 public importOnlyDisturbed;
    uint256 public importOnlyMispriced;
    uint256 public registrarMovedPending;

    // Coverage of the paths that matter.
    uint256 public redemptions;
    uint256 public importOnlyRedemptions;
    uint256 public sellBacks;
    uint256 public claims;
    uint256 public payerMoves;
    uint256 public payerMovesWithPending;
    uint256 public registrarRefusals;

    constructor(IGridLedger ledger, address admin_, uint256 meterKey_) {
        gl = ledger;
        pgl = IGridLedgerProducers(address(ledger));
        kwh = IEnergyToken(pgl.energyToken());
        admin = admin_;
        meterKey = meterKey_;
        price = ledger.tariff(1).pricePerKWh;
        for (uint256 i; i < METERS; ++i) {
            payerOfMeter[ids[i]] = householdOf(i);
        }
    }

    function householdOf(uint256 i) public pure returns (address) {
        return address(uint160(0xB000 + i % HOUSEHOLDS));
    }

    /// @dev Collects the events of the call into the ghost books.
    modifier logged() {
        vm.recordLogs();
        _;
        _absorb(vm.getRecordedLogs());
    }

    // ------------------------------------------------------------ readings

    /// @dev An honest reading after `dt`: within both ratings, signed by the meter's key, relayed alone or in a batch.
    /// On a producer meter it is sometimes an import-only reading, which must keep the export register.
    function readHonest(uint256 meterSeed, uint256 dt, uint256 importSeed, uint256 exportSeed, uint8 how)
        external
        logged
    {
        uint256 i = meterSeed % METERS;
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        if (i >= PRODUCERS || how % 4 == 0) {
            _snapImportOnly();
            if (!_sendImport(i, importSeed)) ++honestRejected;
            if (i < PRODUCERS) _checkImportOnly();
            return;
        }
        IGridLedgerProducerTypes.BidirectionalReading memory r = _honest(i, importSeed, exportSeed);
        _snapImportOnly();
        if (how % 4 == 1) {
            IGridLedgerProducerTypes.SignedBidirectionalReading[] memory batch = _withOthers(_compact(r, meterKey), how);
            _sendBatch(batch, batch.length);
        } else if (!_sendOne(r, meterKey)) {
            ++honestRejected;
        }
        _checkImportOnly();
    }

    /// @dev A bad reading: a replay, an older one after a newer, a backwards or over-rated export register, export
    /// on an import-only meter, or a stranger's signature; alone, or in a batch between honest entries.
    function readAdversarial(uint256 meterSeed, uint8 kind, uint256 dt, uint256 seed, bool inBatch) external logged {
        uint256 i = meterSeed % METERS;
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        uint32 ts = uint32(vm.getBlockTimestamp());
        uint256 key = meterKey;
        IGridLedgerProducerTypes.BidirectionalReading memory r;
        kind %= 6;
        if (kind == 0) {
            // A replay of the last reading that went through.
            r = _lastSent[ids[i]];
            if (r.meterId == 0) return;
        } else if (kind == 1) {
            // Reordered: a newer honest reading lands first, the older one after it.
            if (i >= PRODUCERS) return;
            r = _honest(i, seed, seed >> 64);
            r.timestamp = ts - 1;
            if (r.timestamp <= m.lastTimestamp) return;
            IGridLedgerProducerTypes.BidirectionalReading memory newer = _honest(i, seed >> 128, seed >> 160);
            _snapImportOnly();
            if (!_sendOne(newer, meterKey)) ++honestRejected;
            _checkImportOnly();
        } else if (kind == 2) {
            if (i >= PRODUCERS) return;
            r = _honest(i, seed, 0);
            uint64 lastExportWh = pgl.producerInfo(ids[i]).exportWh;
            if (lastExportWh == 0) return;
            r.exportWh = uint64(bound(seed >> 64, 0, lastExportWh - 1));
        } else if (kind == 3) {
            if (i >= PRODUCERS) return;
            r = _honest(i, seed, 0);
            IGridLedgerProducerTypes.ProducerInfo memory info = pgl.producerInfo(ids[i]);
            uint256 maxWh = uint256(info.maxExportW) * (ts - m.lastTimestamp) / 3600;
            r.exportWh = uint64(info.exportWh + bound(seed >> 64, maxWh + 1, maxWh + 1_000_000));
        } else if (kind == 4) {
            // Export on an import-only meter.
            if (i < PRODUCERS) i = PRODUCERS + i % (METERS - PRODUCERS);
            m = gl.meter(ids[i]);
            r = IGridLedgerProducerTypes.BidirectionalReading(ids[i], m.lastWh, uint64(bound(seed, 0, 1e6)), ts);
        } else {
            if (i >= PRODUCERS) return;
            r = _honest(i, seed, seed >> 64);
            key = STRANGER_KEY;
        }
        _bad[_hash(r)] = true;
        _snapImportOnly();
        if (inBatch) {
            IGridLedgerProducerTypes.SignedBidirectionalReading[] memory batch =
                _withOthers(_compact(r, key), uint8(seed));
            _sendBatch(batch, batch.length - 1);
        } else {
            _sendOne(r, key);
        }
        if (i < PRODUCERS) _checkImportOnly();
    }

    function warp(uint256 dt) external logged {
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 30 hours));
    }

    // ------------------------------------------------------------ tokens

    /// @dev Anyone claims for any meter; the tokens must reach the meter's payer at the time of the claim.
    function claim(uint256 callerSeed, uint256 meterSeed) external logged {
        uint32 id = ids[meterSeed % METERS];
        address payer = gl.meter(id).payer;
        uint256 held = kwh.balanceOf(payer);
        _snapImportOnly();
        vm.prank(householdOf(callerSeed));
        try pgl.claimTokens(id) returns (uint256 wh) {
            ++claims;
            if (kwh.balanceOf(payer) != held + wh) ++misdirectedClaims;
        } catch {}
        _checkImportOnly();
    }

    /// @dev The payer hands the meter on, or the registrar moves it, between accrual and claim. The payer's pending
    /// tokens go with the meter only when the payer hands it on; the registrar may move it only while none are pending.
    function movePayer(uint256 meterSeed, uint256 toSeed, bool byRegistrar) external logged {
        uint32 id = ids[meterSeed % PRODUCERS];
        address from = payerOfMeter[id];
        address to = householdOf(toSeed);
        uint256 pending = storedPendingWh(id);
        _snapImportOnly();
        vm.prank(byRegistrar ? admin : from);
        try gl.setMeterPayer(id, to) {
            ++payerMoves;
            payerOfMeter[id] = to;
            if (pending != 0) ++payerMovesWithPending;
            if (byRegistrar) {
                if (pending != 0) ++registrarMovedPending;
            } else {
                tokensOut[from] += pending;
                tokensIn[to] += pending;
            }
        } catch {
            if (byRegistrar && pending != 0) ++registrarRefusals;
        }
        _checkImportOnly();
    }

    /// @dev The registrar rebases the export register (a meter exchange) to any register and rating.
    function rebase(uint256 meterSeed, uint256 registerSeed, uint256 ratingSeed) external logged {
        uint32 id = ids[meterSeed % PRODUCERS];
        uint64 register = uint64(bound(registerSeed, 0, 1e9));
        _snapImportOnly();
        vm.prank(admin);
        pgl.enableExport(id, uint32(bound(ratingSeed, 1, 20_000)), register);
        lastExport[id] = register;
        _checkImportOnly();
    }

    function toggleRedeem(uint256 meterSeed, bool on) external logged {
        uint32 id = ids[meterSeed % PRODUCERS];
        _snapImportOnly();
        vm.prank(gl.meter(id).payer);
        pgl.setRedeemTokens(id, on);
        _checkImportOnly();
    }

    /// @dev Any household redeems any amount against any meter's bill, paid or not: an import-only household with the
    /// tokens it was given too. It may move only that meter.
    function redeem(uint256 householdSeed, uint256 meterSeed, uint256 whSeed) external logged {
        uint32 id = ids[meterSeed % METERS];
        address holder = householdOf(householdSeed);
        if (householdSeed % 3 != 0) holder = gl.meter(id).payer;
        // An import-only household has tokens only from others (bought in the market): it gets some first.
        if (_isImportOnly(id)) _buyTokens(holder, whSeed);
        uint256 wh = bound(whSeed, 0, 2 * _available(id, holder) + 10);
        gl.settle(id);
        _absorb(vm.getRecordedLogs());
        vm.recordLogs();
        int256 balanceBefore = gl.meterBalance(id);
        uint256 billBefore = gl.billOf(id).amount;
        uint256 liabilityBefore = gl.liability();
        uint256 tokensBefore = kwh.totalSupply() + _pending(id);
        _snapImportOnly();
        vm.prank(holder);
        try pgl.redeemTokens(id, wh) returns (uint256 amount) {
            ++redemptions;
            if (_isImportOnly(id)) {
                ++importOnlyRedemptions;
                _importOnlyBefore[meterSeed % METERS] = _importOnlyState(id);
            }
            int256 balanceAfter = gl.meterBalance(id);
            if (balanceAfter > 0 || balanceAfter != balanceBefore + int256(amount)) ++redemptionCredit;
            if (gl.billOf(id).amount + amount != billBefore || gl.liability() != liabilityBefore) ++redemptionCredit;
            Vm.Log[] memory logs = vm.getRecordedLogs();
            uint256 eventWh = _eventWh(logs, IGridLedgerProducerTypes.TokensRedeemed.selector, id);
            if (eventWh > wh || kwh.totalSupply() + _pending(id) + eventWh != tokensBefore) ++burnMismatches;
            _absorb(logs);
            vm.recordLogs();
        } catch {}
        _checkImportOnly();
    }

    /// @dev Any household sells back any amount of any meter's tokens, pending or minted.
    function sellBack(uint256 householdSeed, uint256 meterSeed, uint256 whSeed) external logged {
        uint32 id = ids[meterSeed % METERS];
        address holder = householdOf(householdSeed);
        if (householdSeed % 3 != 0 && meterSeed % METERS < PRODUCERS) holder = gl.meter(id).payer;
        uint256 wh = bound(whSeed, 0, 2 * _available(id, holder) + 10);
        // Before or after the meter's ended period closes (pending tokens the close would redeem may be sold first).
        if (whSeed % 2 == 0) {
            gl.settle(id);
            _absorb(vm.getRecordedLogs());
            vm.recordLogs();
        }
        bool projected = meterSeed % METERS < PRODUCERS && gl.billOf(id).period != lastBill[id];
        uint256 proceedsBefore = pgl.proceedsOf(holder);
        uint256 fundsBefore = pgl.feedInFunds();
        uint256 tokensBefore = kwh.totalSupply() + _pending(id);
        uint64 feedIn = pgl.producerTariff(gl.meter(id).tariffId).feedInPricePerKWh;
        _snapImportOnly();
        vm.prank(holder);
        try pgl.sellBack(id, wh) returns (uint256 amount) {
            ++sellBacks;
            if (amount != wh * feedIn / 1000 || pgl.proceedsOf(holder) != proceedsBefore + amount) {
                ++sellBackMismatches;
            }
            if (pgl.feedInFunds() + amount != fundsBefore) ++sellBackMismatches;
            // With a close pending, the projected pending Wh already leaves out what the close will redeem.
            if (!projected && kwh.totalSupply() + _pending(id) + wh != tokensBefore) ++burnMismatches;
        } catch {}
        _checkImportOnly();
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amountSeed) external logged {
        address from = householdOf(fromSeed);
        uint256 amount = bound(amountSeed, 0, kwh.balanceOf(from));
        vm.prank(from);
        kwh.transfer(householdOf(toSeed), amount);
        tokensOut[from] += amount;
        tokensIn[householdOf(toSeed)] += amount;
    }

    /// @dev `buyer` receives up to `seed` Wh from the first other household holding tokens.
    function _buyTokens(address buyer, uint256 seed) internal {
        for (uint256 i; i < HOUSEHOLDS; ++i) {
            address from = householdOf(i);
            uint256 held = kwh.balanceOf(from);
            if (from == buyer || held == 0) continue;
            uint256 amount = bound(seed, 1, held);
            vm.prank(from);
            kwh.transfer(buyer, amount);
            tokensOut[from] += amount;
            tokensIn[buyer] += amount;
            return;
        }
    }

    function withdrawProceeds(uint256 householdSeed) external logged {
        address h = householdOf(householdSeed);
        uint256 owed = pgl.proceedsOf(h);
        if (owed == 0) return;
        uint256 before = h.balance;
        vm.prank(h);
        try pgl.withdrawProceeds() {
            moneyOut += owed;
            if (h.balance != before + owed) ++stuckWithdrawals;
        } catch {
            ++stuckWithdrawals;
        }
    }

    // ------------------------------------------------------------ money

    function pay(uint256 meterSeed, uint256 extra) external logged {
        uint32 id = ids[meterSeed % METERS];
        uint256 due = gl.amountDue(id);
        if (due == 0) return;
        uint256 value = due + bound(extra, 0, 1e6);
        address p = gl.meter(id).payer;
        vm.deal(p, p.balance + value);
        vm.prank(p);
        try gl.payBill{value: value}(id) {
            moneyIn += value;
        } catch {}
    }

    function topUp(uint256 meterSeed, uint256 amountSeed) external logged {
        uint32 id = ids[meterSeed % METERS];
        uint256 amount = bound(amountSeed, 1, 5e6);
        address p = gl.meter(id).payer;
        vm.deal(p, p.balance + amount);
        vm.prank(p);
        gl.topUp{value: amount}(id, amount);
        moneyIn += amount;
    }

    function settle(uint256 meterSeed) external logged {
        gl.settle(ids[meterSeed % METERS]);
    }

    function depositFeedIn(uint256 amountSeed) external logged {
        uint256 amount = bound(amountSeed, 1, 5e6);
        vm.deal(admin, admin.balance + amount);
        _snapImportOnly();
        vm.prank(admin);
        pgl.depositFeedInFunds{value: amount}(amount);
        moneyIn += amount;
        _checkImportOnly();
    }

    function withdrawFeedIn(uint256 amountSeed) external logged {
        uint256 funds = pgl.feedInFunds();
        uint256 amount = bound(amountSeed, 1, funds + 10);
        _snapImportOnly();
        vm.prank(admin);
        try pgl.withdrawFeedInFunds(amount) {
            moneyOut += amount;
            if (amount > funds) ++operatorOverreach;
        } catch {}
        _checkImportOnly();
    }

    /// @dev The operator takes everything, one unit more than its own, or exactly its own; then every owner of
    /// proceeds still gets paid.
    function operatorWithdraw(uint8 choice) external logged {
        uint256 held = address(gl).balance;
        uint256 owed = gl.liability() + pgl.feedInFunds() + totalProceeds();
        uint256 available = held > owed ? held - owed : 0;
        choice %= 3;
        uint256 amount = choice == 0 ? held : choice == 1 ? available + 1 : available;
        if (amount == 0) return;
        vm.prank(admin);
        try gl.withdraw(amount) {
            moneyOut += amount;
            if (amount > available) ++operatorOverreach;
        } catch {}
    }

    function setFeedInPrices(uint256 feedInSeed, uint256 networkSeed) external logged {
        _snapImportOnly();
        vm.prank(admin);
        pgl.setProducerTariff(
            1,
            IGridLedgerProducerTypes.ProducerTariff(
                uint64(bound(feedInSeed, 1, 400_000)), uint64(bound(networkSeed, 0, 400_000))
            )
        );
        _checkImportOnly();
    }

    // ------------------------------------------------------------ views for the invariants

    function totalProceeds() public view returns (uint256 total) {
        for (uint256 h; h < HOUSEHOLDS; ++h) {
            total += pgl.proceedsOf(householdOf(h));
        }
    }

    /// @dev Pending Wh over the producer meters, plus what closes due now will redeem but have not yet announced.
    function pendingAndProjected() external view returns (uint256 total) {
        for (uint256 i; i < PRODUCERS; ++i) {
            total += storedPendingWh(ids[i]);
        }
    }

    /// @dev A meter's pending Wh as stored: the projected ones plus what a close due now will redeem but has not yet
    /// announced (the views project an ended period's close; its event comes with the next call that closes it).
    function storedPendingWh(uint32 id) public view returns (uint256) {
        IGridLedgerProducerTypes.ProducerInfo memory info = pgl.producerInfo(id);
        if (gl.billOf(id).period == lastBill[id]) return info.pendingWh;
        return info.pendingWh + info.billRedeemedWh;
    }

    // ------------------------------------------------------------ helpers

    function _honest(uint256 i, uint256 importSeed, uint256 exportSeed)
        internal
        view
        returns (IGridLedgerProducerTypes.BidirectionalReading memory r)
    {
        uint32 id = ids[i];
        IGridLedgerTypes.MeterInfo memory m = gl.meter(id);
        IGridLedgerProducerTypes.ProducerInfo memory info = pgl.producerInfo(id);
        uint256 dt = vm.getBlockTimestamp() - m.lastTimestamp;
        uint256 maxImport = uint256(m.maxPowerW) * dt / 3600;
        uint256 maxExport = uint256(info.maxExportW) * dt / 3600;
        r.meterId = id;
        r.importWh = uint64(m.lastWh + bound(importSeed, 0, maxImport));
        r.exportWh = uint64(info.exportWh + bound(exportSeed, 0, maxExport));
        r.timestamp = uint32(vm.getBlockTimestamp());
    }

    /// @dev `first`, then honest readings of up to two other producer meters.
    function _withOthers(IGridLedgerProducerTypes.SignedBidirectionalReading memory first, uint8 seed)
        internal
        returns (IGridLedgerProducerTypes.SignedBidirectionalReading[] memory batch)
    {
        batch = new IGridLedgerProducerTypes.SignedBidirectionalReading[](1 + seed % 3);
        batch[0] = first;
        uint256 next = uint256(keccak256(abi.encode(first, seed)));
        uint256 k = 1;
        for (uint256 j; j < PRODUCERS && k < batch.length; ++j) {
            if (ids[j] == first.reading.meterId) continue;
            batch[k] = _compact(_honest(j, next >> (8 * k), next >> (8 * k + 64)), meterKey);
            ++k;
        }
    }

    function _compact(IGridLedgerProducerTypes.BidirectionalReading memory r, uint256 key)
        internal
        returns (IGridLedgerProducerTypes.SignedBidirectionalReading memory)
    {
        if (key == meterKey) _signed[_hash(r)] = true;
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, pgl.bidirectionalReadingDigest(r));
        return
            IGridLedgerProducerTypes.SignedBidirectionalReading(r, rr, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    function _sendOne(IGridLedgerProducerTypes.BidirectionalReading memory r, uint256 key) internal returns (bool) {
        if (key == meterKey) _signed[_hash(r)] = true;
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, pgl.bidirectionalReadingDigest(r));
        try pgl.submitBidirectionalReading(r, abi.encodePacked(rr, s, v)) {
            _lastSent[r.meterId] = r;
            return true;
        } catch {
            return false;
        }
    }

    /// @dev Relays a batch of which `honest` entries must be accepted (a bad first entry is never).
    function _sendBatch(IGridLedgerProducerTypes.SignedBidirectionalReading[] memory batch, uint256 honest) internal {
        uint256 accepted = pgl.submitBidirectionalReadings(batch);
        if (accepted < honest) ++honestRejected;
        if (honest == batch.length) _lastSent[batch[0].reading.meterId] = batch[0].reading;
    }

    function _sendImport(uint256 i, uint256 importSeed) internal returns (bool) {
        IGridLedgerTypes.MeterInfo memory m = gl.meter(ids[i]);
        uint256 maxWh = uint256(m.maxPowerW) * (vm.getBlockTimestamp() - m.lastTimestamp) / 3600;
        IGridLedgerTypes.Reading memory r = IGridLedgerTypes.Reading(
            ids[i], uint64(m.lastWh + bound(importSeed, 0, maxWh)), uint32(vm.getBlockTimestamp())
        );
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(meterKey, gl.readingDigest(r));
        try gl.submitReading(r, abi.encodePacked(rr, s, v)) {
            return true;
        } catch {
            return false;
        }
    }

    function _hash(IGridLedgerProducerTypes.BidirectionalReading memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode(r.meterId, r.importWh, r.exportWh, r.timestamp));
    }

    function _pending(uint32 id) internal view returns (uint256) {
        return pgl.producerInfo(id).pendingWh;
    }

    function _available(uint32 id, address holder) internal view returns (uint256) {
        return _pending(id) + kwh.balanceOf(holder);
    }

    function _eventWh(Vm.Log[] memory logs, bytes32 topic, uint32 id) internal view returns (uint256 wh) {
        for (uint256 k; k < logs.length; ++k) {
            Vm.Log memory l = logs[k];
            if (l.emitter == address(gl) && l.topics[0] == topic && uint32(uint256(l.topics[1])) == id) {
                (uint256 w,) = abi.decode(l.data, (uint256, uint256));
                wh += w;
            }
        }
    }

    function _isImportOnly(uint32 id) internal view returns (bool) {
        return id == ids[3] || id == ids[4];
    }

    function _snapImportOnly() internal {
        for (uint256 i = PRODUCERS; i < METERS; ++i) {
            _importOnlyBefore[i] = _importOnlyState(ids[i]);
        }
    }

    function _checkImportOnly() internal {
        for (uint256 i = PRODUCERS; i < METERS; ++i) {
            if (_importOnlyState(ids[i]) != _importOnlyBefore[i]) ++importOnlyDisturbed;
        }
    }

    function _importOnlyState(uint32 id) internal view returns (bytes32) {
        return
            keccak256(
                abi.encode(gl.meter(id), gl.meterBalance(id), gl.billOf(id), gl.permitUntil(id), gl.amountDue(id))
            );
    }

    /// @dev Reads the ledger's and the token's events into the ghost books. A close's `TokensRedeemed` comes just
    /// before its `BillIssued`; any other belongs to the meter's latest bill.
    function _absorb(Vm.Log[] memory logs) internal {
        for (uint256 k; k < logs.length; ++k) {
            Vm.Log memory l = logs[k];
            bytes32 topic = l.topics.length == 0 ? bytes32(0) : l.topics[0];
            if (l.emitter == address(kwh)) {
                if (topic != keccak256("Transfer(address,address,uint256)")) continue;
                uint256 value = abi.decode(l.data, (uint256));
                if (l.topics[1] == bytes32(0)) mintedWh += value;
                if (l.topics[2] == bytes32(0)) burnedWh += value;
                continue;
            }
            if (l.emitter != address(gl)) continue;
            if (topic == IGridLedgerProducerTypes.BidirectionalReadingAccepted.selector) {
                _absorbReading(uint32(uint256(l.topics[1])), l.data);
            } else if (topic == IGridLedgerProducerTypes.TokensClaimed.selector) {
                uint32 id = uint32(uint256(l.topics[1]));
                claimedWh += abi.decode(l.data, (uint256));
                if (address(uint160(uint256(l.topics[2]))) != gl.meter(id).payer) ++misdirectedClaims;
            } else if (topic == IGridLedgerProducerTypes.TokensRedeemed.selector) {
                uint32 id = uint32(uint256(l.topics[1]));
                (uint256 wh, uint256 amount) = abi.decode(l.data, (uint256, uint256));
                redeemedWh += wh;
                tokensOut[payerOfMeter[id]] += wh;
                _flushRedeemed(id);
                _closeRedeemed[id] = wh;
                _closeOff[id] = amount;
            } else if (topic == IGridLedgerProducerTypes.TokensSoldBack.selector) {
                (uint256 wh,) = abi.decode(l.data, (uint256, uint256));
                soldWh += wh;
                tokensOut[payerOfMeter[uint32(uint256(l.topics[1]))]] += wh;
            } else if (topic == IGridLedgerTypes.BillIssued.selector) {
                uint32 id = uint32(uint256(l.topics[1]));
                uint32 period = uint32(uint256(l.topics[2]));
                (uint64 energy, uint256 amount,) = abi.decode(l.data, (uint64, uint256, uint32));
                lastBill[id] = period;
                energyOfBill[id][period] = energy;
                _flushRedeemed(id);
                if (_isImportOnly(id) && amount != uint256(energy) * price / 1000) ++importOnlyMispriced;
            }
        }
        for (uint256 i; i < METERS; ++i) {
            _flushRedeemed(ids[i]);
        }
    }

    function _absorbReading(uint32 id, bytes memory data) internal {
        (uint64 importWh, uint64 exportWh, uint32 ts, uint64 exported) =
            abi.decode(data, (uint64, uint64, uint32, uint64));
        bytes32 h = keccak256(abi.encode(id, importWh, exportWh, ts));
        if (!_signed[h]) ++unsignedAccepted;
        if (_bad[h]) ++badAccepted;
        if (_accepted[h]) ++acceptedTwice;
        _accepted[h] = true;
        uint64 expected = exportWh >= lastExport[id] ? exportWh - lastExport[id] : 0;
        if (exportWh < lastExport[id] || exported != expected) ++deltaMismatches;
        exportDeltas += expected;
        tokensIn[payerOfMeter[id]] += expected;
        lastExport[id] = exportWh;
    }

    /// @dev Books the Wh redeemed since the last `BillIssued`, and what they took off, against the meter's latest bill.
    /// A household paying less: all redemptions of a bill never take more off it than their energy's price (each
    /// rounds by at most one base unit), whatever the network charge did in between.
    function _flushRedeemed(uint32 id) internal {
        uint256 wh = _closeRedeemed[id];
        if (wh == 0) return;
        _closeRedeemed[id] = 0;
        uint32 period = lastBill[id];
        redeemedOnBill[id][period] += wh;
        offOnBill[id][period] += _closeOff[id];
        ++redemptionsOnBill[id][period];
        _closeOff[id] = 0;
        if (redeemedOnBill[id][period] > energyOfBill[id][period]) ++overRedeemedBills;
        if (offOnBill[id][period] > redeemedOnBill[id][period] * price / 1000 + redemptionsOnBill[id][period]) {
            ++redemptionOverpriced;
        }
    }
}
