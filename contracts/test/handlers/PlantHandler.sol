// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";

import {IGridLedger, IGridLedgerTypes} from "../../src/interfaces/IGridLedger.sol";
import {IGridLedgerProducerTypes, IGridLedgerProducers} from "../../src/interfaces/IGridLedgerProducers.sol";
import {ProducerHandler} from "./ProducerHandler.sol";

/// @dev `ProducerHandler`'s producers, consumers and operator, plus plants and meter exchanges: a plant's feeder key
/// replaying, reordering, inflating or reversing its readings, strangers signing for it, anyone claiming for it, the
/// registrar moving its owner with tokens pending or making a third feeder a plant late, and the registrar exchanging
/// producer meters with honest final registers or with lower or inflated final export registers. Plant and exchange
/// events are read into ghost books of their own, so the invariants compare the token supply with what was signed.
contract PlantHandler is ProducerHandler {
    uint256 public constant PLANTS = 3;
    /// @dev Feeders 51 and 52 are plants from the start; 53 reads as an ordinary root feeder until `enableLatePlant`.
    uint32[PLANTS] public plantIds = [uint32(51), 52, 53];
    uint32 public constant PLANT_POWER = 2_000_000;

    uint256 public immutable plantKey;

    // Ghost books.
    uint256 public plantDeltas;
    uint256 public plantClaimedWh;
    uint256 public exchangeDeltas;
    mapping(uint32 feederId => uint64) public plantRegister;
    mapping(uint32 feederId => bool) public isPlant;
    mapping(uint32 feederId => IGridLedgerTypes.FeederReading) internal _lastPlantReading;
    mapping(bytes32 reading => bool) internal _plantSigned;
    mapping(bytes32 reading => bool) internal _plantBad;
    mapping(bytes32 reading => bool) internal _plantAccepted;

    // Ghost counters: each must stay 0.
    uint256 public plantUnsignedAccepted;
    uint256 public plantBadAccepted;
    uint256 public plantAcceptedTwice;
    uint256 public plantHonestRejected;
    uint256 public plantMismatches;
    uint256 public plantMisdirected;
    uint256 public ownerMovedWithPending;
    uint256 public exchangeMismatches;
    uint256 public exchangeHonestRejected;
    uint256 public exchangeBadAccepted;

    // Coverage.
    uint256 public plantClaims;
    uint256 public ownerMoves;
    uint256 public exchanges;

    /// @dev Registers the three root feeders with a first reading each, and makes the first two plants (the ledger
    /// and the keys as arguments: immutables are not read while the handler is built).
    constructor(IGridLedger ledger, address admin_, uint256 meterKey_, uint256 plantKey_)
        ProducerHandler(ledger, admin_, meterKey_)
    {
        plantKey = plantKey_;
        vm.startPrank(admin_);
        for (uint256 i; i < PLANTS; ++i) {
            ledger.registerFeeder(plantIds[i], vm.addr(plantKey_), 0, 500, PLANT_POWER);
        }
        vm.stopPrank();
        vm.warp(vm.getBlockTimestamp() + 1);
        for (uint256 i; i < PLANTS; ++i) {
            IGridLedgerTypes.FeederReading memory r =
                IGridLedgerTypes.FeederReading(plantIds[i], uint64(1000 * i), uint32(vm.getBlockTimestamp()));
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(plantKey_, ledger.feederReadingDigest(r));
            ledger.submitFeederReading(r, abi.encodePacked(rr, s, v));
            bytes32 h = _plantHash(r);
            _plantSigned[h] = true;
            _plantAccepted[h] = true;
            _lastPlantReading[r.feederId] = r;
            plantRegister[r.feederId] = r.wh;
        }
        vm.startPrank(admin_);
        for (uint256 i; i < 2; ++i) {
            IGridLedgerProducers(address(ledger)).enablePlant(plantIds[i], householdOf(i));
            isPlant[plantIds[i]] = true;
        }
        vm.stopPrank();
    }

    modifier plantLogged() {
        vm.recordLogs();
        _;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        _absorb(logs);
        _absorbPlants(logs);
    }

    // ------------------------------------------------------------ plants

    /// @dev An honest plant reading after `dt`: within its rating, signed by its key.
    function plantRead(uint256 plantSeed, uint256 dt, uint256 whSeed) external plantLogged {
        uint32 id = plantIds[plantSeed % PLANTS];
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        IGridLedgerTypes.FeederInfo memory f = gl.feeder(id);
        uint256 most = uint256(PLANT_POWER) * (vm.getBlockTimestamp() - f.lastTimestamp) / 3600;
        IGridLedgerTypes.FeederReading memory r = IGridLedgerTypes.FeederReading(
            id, uint64(f.lastWh + bound(whSeed, 0, most)), uint32(vm.getBlockTimestamp())
        );
        _snapImportOnly();
        if (!_sendPlant(r, plantKey)) ++plantHonestRejected;
        _checkImportOnly();
    }

    /// @dev A bad plant reading: a replay of the last one, an older one, a register going backwards or beyond the
    /// rating, or a stranger's (or a meter's) signature.
    function plantReadAdversarial(uint256 plantSeed, uint8 kind, uint256 dt, uint256 seed) external plantLogged {
        uint32 id = plantIds[plantSeed % PLANTS];
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        IGridLedgerTypes.FeederInfo memory f = gl.feeder(id);
        uint256 ts = vm.getBlockTimestamp();
        uint256 most = uint256(PLANT_POWER) * (ts - f.lastTimestamp) / 3600;
        IGridLedgerTypes.FeederReading memory r =
            IGridLedgerTypes.FeederReading(id, uint64(f.lastWh + bound(seed, 0, most)), uint32(ts));
        uint256 key = plantKey;
        kind %= 5;
        if (kind == 0) {
            // The last accepted reading again: it must not be accepted twice (`plantAcceptedTwice`).
            r = _lastPlantReading[id];
        } else if (kind == 1) {
            r.timestamp = uint32(bound(seed >> 64, 0, f.lastTimestamp));
        } else if (kind == 2) {
            if (f.lastWh == 0) return;
            r.wh = uint64(bound(seed >> 64, 0, f.lastWh - 1));
        } else if (kind == 3) {
            r.wh = uint64(f.lastWh + bound(seed >> 64, most + 1, most + 1e9));
        } else {
            key = seed % 2 == 0 ? STRANGER_KEY : meterKey;
        }
        if (kind != 0) _plantBad[_plantHash(r)] = true;
        _snapImportOnly();
        _sendPlant(r, key);
        _checkImportOnly();
    }

    /// @dev Anyone claims any plant's tokens: they must reach its owner at the time of the claim.
    function plantClaim(uint256 callerSeed, uint256 plantSeed) external plantLogged {
        uint32 id = plantIds[plantSeed % PLANTS];
        address owner = pgl.plantInfo(id).owner;
        uint256 held = owner == address(0) ? 0 : kwh.balanceOf(owner);
        vm.prank(householdOf(callerSeed));
        try pgl.claimPlantTokens(id) returns (uint256 wh) {
            ++plantClaims;
            if (kwh.balanceOf(owner) != held + wh) ++plantMisdirected;
        } catch {}
    }

    /// @dev The owner hands its plant on, or the registrar moves it, tokens pending or not.
    function movePlantOwner(uint256 plantSeed, uint256 toSeed, bool byRegistrar) external plantLogged {
        uint32 id = plantIds[plantSeed % PLANTS];
        IGridLedgerProducerTypes.PlantInfo memory info = pgl.plantInfo(id);
        if (info.owner == address(0)) return;
        address by = byRegistrar ? admin : info.owner;
        vm.prank(by);
        try pgl.setPlantOwner(id, householdOf(toSeed)) {
            ++ownerMoves;
            if (by != info.owner && info.pendingWh != 0) ++ownerMovedWithPending;
        } catch {}
    }

    /// @dev The registrar makes the third feeder a plant, from its register at that moment.
    function enableLatePlant(uint256 ownerSeed) external plantLogged {
        uint32 id = plantIds[PLANTS - 1];
        vm.prank(admin);
        try pgl.enablePlant(id, householdOf(ownerSeed)) {} catch {}
    }

    // ------------------------------------------------------------ meter exchanges

    /// @dev The registrar exchanges a producer meter after `dt`: honest final registers (within the ratings since the
    /// last reading), a final export register below the last accepted one, or one beyond the export rating; the new
    /// registers are anything.
    function exchange(uint256 meterSeed, uint256 dt, uint256 seed, uint8 kind) external plantLogged {
        uint32 id = ids[meterSeed % PRODUCERS];
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, 3 hours));
        IGridLedgerTypes.MeterInfo memory m = gl.meter(id);
        IGridLedgerProducerTypes.ProducerInfo memory info = pgl.producerInfo(id);
        uint256 elapsed = vm.getBlockTimestamp() - m.lastTimestamp;
        uint256 mostExport = uint256(info.maxExportW) * elapsed / 3600;
        uint64 finalImport = uint64(m.lastWh + bound(seed, 0, uint256(m.maxPowerW) * elapsed / 3600));
        uint64 finalExport = uint64(info.exportWh + bound(seed >> 64, 0, mostExport));
        kind %= 3;
        if (kind == 1) {
            if (info.exportWh == 0) return;
            finalExport = uint64(bound(seed >> 64, 0, info.exportWh - 1));
        } else if (kind == 2) {
            finalExport = uint64(info.exportWh + bound(seed >> 64, mostExport + 1, mostExport + 1e6));
        }
        _snapImportOnly();
        vm.prank(admin);
        try pgl.recordBidirectionalMeterExchange(
            id,
            finalImport,
            finalExport,
            uint64(bound(seed >> 128, 0, 1e9)),
            uint64(bound(seed >> 160, 0, 1e9)),
            uint32(vm.getBlockTimestamp())
        ) {
            ++exchanges;
            if (kind != 0) ++exchangeBadAccepted;
        } catch {
            if (kind == 0) ++exchangeHonestRejected;
        }
        _checkImportOnly();
    }

    // ------------------------------------------------------------ views for the invariants

    /// @dev Pending Wh over the producer meters, plus what a close now due will redeem (the views project it; its
    /// event comes with the call that closes it). Unlike `pendingAndProjected`, which takes a new bill period for a
    /// close, this holds across exchanges, which issue more than one bill for a period.
    function pendingAndDue() external view returns (uint256 total) {
        uint32 current = gl.currentPeriod();
        for (uint256 i; i < PRODUCERS; ++i) {
            IGridLedgerProducerTypes.ProducerInfo memory info = pgl.producerInfo(ids[i]);
            total += info.pendingWh;
            if (current > gl.meter(ids[i]).openPeriod) total += info.billRedeemedWh;
        }
    }

    function plantPending() external view returns (uint256 total) {
        for (uint256 i; i < PLANTS; ++i) {
            total += pgl.plantInfo(plantIds[i]).pendingWh;
        }
    }

    // ------------------------------------------------------------ helpers

    function _sendPlant(IGridLedgerTypes.FeederReading memory r, uint256 key) internal returns (bool) {
        if (key == plantKey) _plantSigned[_plantHash(r)] = true;
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, gl.feederReadingDigest(r));
        try gl.submitFeederReading(r, abi.encodePacked(rr, s, v)) {
            _lastPlantReading[r.feederId] = r;
            return true;
        } catch {
            return false;
        }
    }

    function _plantHash(IGridLedgerTypes.FeederReading memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode(r.feederId, r.wh, r.timestamp));
    }

    /// @dev Reads plant readings, plant events and meter exchanges into the ghost books (after `_absorb`, which books
    /// every mint and burn, and the meters' readings, claims, redemptions and bills).
    function _absorbPlants(Vm.Log[] memory logs) internal {
        for (uint256 k; k < logs.length; ++k) {
            Vm.Log memory l = logs[k];
            if (l.emitter != address(gl) || l.topics.length < 2) continue;
            bytes32 topic = l.topics[0];
            uint32 id = uint32(uint256(l.topics[1]));
            if (topic == IGridLedgerTypes.FeederReadingAccepted.selector) {
                (uint64 wh, uint32 ts) = abi.decode(l.data, (uint64, uint32));
                bytes32 h = keccak256(abi.encode(id, wh, ts));
                if (!_plantSigned[h]) ++plantUnsignedAccepted;
                if (_plantBad[h]) ++plantBadAccepted;
                if (_plantAccepted[h]) ++plantAcceptedTwice;
                _plantAccepted[h] = true;
                if (wh < plantRegister[id]) ++plantMismatches;
                else if (isPlant[id]) plantDeltas += wh - plantRegister[id];
                plantRegister[id] = wh;
            } else if (topic == IGridLedgerProducerTypes.PlantEnabled.selector) {
                isPlant[id] = true;
                if (abi.decode(l.data, (uint64)) != plantRegister[id]) ++plantMismatches;
            } else if (topic == IGridLedgerProducerTypes.PlantTokensClaimed.selector) {
                plantClaimedWh += abi.decode(l.data, (uint256));
                if (address(uint160(uint256(l.topics[2]))) != pgl.plantInfo(id).owner) ++plantMisdirected;
            } else if (topic == IGridLedgerProducerTypes.ExportExchanged.selector) {
                (uint64 oldFinal, uint64 newInitial, uint64 exported) = abi.decode(l.data, (uint64, uint64, uint64));
                if (oldFinal < lastExport[id] || exported != oldFinal - lastExport[id]) ++exchangeMismatches;
                exchangeDeltas += exported;
                lastExport[id] = newInitial;
            }
        }
    }
}
