// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISettlement} from "../../src/interfaces/ISettlement.sol";
import {Settlement} from "../../src/settlement/Settlement.sol";
import {LedgerTestBase} from "./LedgerTestBase.sol";

/// @dev A ledger with a plant (feeder 10), a distributor below it (feeder 20) with two households (meters 1 and 2),
/// and a `Settlement` on it with terms in force from period 2: the plant paid 0.10 per kWh, the distributor 5 % ideal
/// loss, 10 % service cost and a penalty of 2× the excess loss, the households valued at tariff 1 (0.30 per kWh).
abstract contract SettlementTestBase is LedgerTestBase {
    uint32 internal constant PLANT = 10;
    uint32 internal constant DISTRIBUTOR = 20;
    uint32 internal constant HOUSE_A = 1;
    uint32 internal constant HOUSE_B = 2;
    uint64 internal constant PLANT_PRICE = 100_000;
    uint16 internal constant IDEAL = 500;
    uint16 internal constant SERVICE = 1000;
    uint32 internal constant PENALTY = 20_000;
    uint32 internal constant CUTOFF = 30 minutes;
    uint32 internal constant BIG_POWER = 100_000_000;
    /// @dev The period the helpers fill with data.
    uint32 internal constant P = 2;

    Settlement internal settlement;
    bool internal native;
    address internal plantOwner = makeAddr("plantOwner");
    address internal distributorPayee = makeAddr("distributorPayee");
    address internal stranger = makeAddr("stranger");
    uint256 internal plantKey = 0x91A47;
    uint256 internal distributorKey = 0xD157;

    mapping(uint32 feederId => uint64) internal _feederRegister;
    mapping(uint32 meterId => uint64) internal _houseRegister;

    function _setUpSettlement(bool token) internal {
        _deploy(token);
        native = !token;
        vm.startPrank(admin);
        gl.registerFeeder(PLANT, vm.addr(plantKey), 0, 500, BIG_POWER);
        gl.registerFeeder(DISTRIBUTOR, vm.addr(distributorKey), PLANT, 500, BIG_POWER);
        gl.registerMeter(HOUSE_A, MeterParams(meterSigner, payer, DISTRIBUTOR, TARIFF, Mode.Postpaid, MAX_POWER, 0));
        gl.registerMeter(HOUSE_B, MeterParams(meterSigner, payer, DISTRIBUTOR, TARIFF, Mode.Postpaid, MAX_POWER, 0));
        vm.stopPrank();
        // A plant is enabled once its meter has been read.
        vm.warp(T0 + 1);
        _feederRead(plantKey, PLANT, 0);
        _feederRead(distributorKey, DISTRIBUTOR, 0);
        vm.prank(admin);
        pgl.enablePlant(PLANT, plantOwner);
        settlement = new Settlement(address(ledger), CUTOFF);
        vm.startPrank(admin);
        settlement.setPlantPrice(PLANT, PLANT_PRICE);
        settlement.setDistributorTerms(DISTRIBUTOR, IDEAL, SERVICE, PENALTY, TARIFF, distributorPayee);
        vm.stopPrank();
        _fundDeposit(100e6);
    }

    /// @dev The start of period `period`.
    function _start(uint32 period) internal view returns (uint256) {
        return gl.periodStart(period);
    }

    function _feederRead(uint256 key, uint32 feederId, uint64 wh) internal {
        FeederReading memory r = FeederReading(feederId, wh, uint32(vm.getBlockTimestamp()));
        gl.submitFeederReading(r, _signFeeder(key, r));
        _feederRegister[feederId] = wh;
    }

    function _houseRead(uint32 meterId, uint64 wh) internal {
        _read(meterId, wh);
        _houseRegister[meterId] = wh;
    }

    /// @dev Fills period `P`: the plant's meter `plantWh`, the distributor's `distWh`, households A and B `aWh` and
    /// `bWh`; then, in period P + 1, closes the households' bills. Ends right after the period's end.
    function _period(uint64 plantWh, uint64 distWh, uint64 aWh, uint64 bWh) internal {
        vm.warp(_start(P) + 1);
        _feederRead(plantKey, PLANT, _feederRegister[PLANT]);
        _feederRead(distributorKey, DISTRIBUTOR, _feederRegister[DISTRIBUTOR]);
        _houseRead(HOUSE_A, _houseRegister[HOUSE_A]);
        _houseRead(HOUSE_B, _houseRegister[HOUSE_B]);
        vm.warp(_start(P + 1) - 1);
        _feederRead(plantKey, PLANT, _feederRegister[PLANT] + plantWh);
        _feederRead(distributorKey, DISTRIBUTOR, _feederRegister[DISTRIBUTOR] + distWh);
        _houseRead(HOUSE_A, _houseRegister[HOUSE_A] + aWh);
        _houseRead(HOUSE_B, _houseRegister[HOUSE_B] + bWh);
        vm.warp(_start(P + 1) + 1);
        _houseRead(HOUSE_A, _houseRegister[HOUSE_A]);
        _houseRead(HOUSE_B, _houseRegister[HOUSE_B]);
    }

    /// @dev The payment currency's balance of `account`.
    function _money(address account) internal view returns (uint256) {
        return native ? account.balance : usd.balanceOf(account);
    }

    /// @dev The operator adds `amount` to the deposit (native, or test dollars approved first).
    function _fundDeposit(uint256 amount) internal {
        if (native) {
            vm.deal(treasury, treasury.balance + amount);
            vm.prank(treasury);
            settlement.addDeposit{value: amount}(amount);
            return;
        }
        usd.mint(treasury, amount);
        vm.startPrank(treasury);
        usd.approve(address(settlement), amount);
        settlement.addDeposit(amount);
        vm.stopPrank();
    }

    function _settleAtCutoff() internal returns (ISettlement.Statement memory) {
        vm.warp(_start(P + 1) + CUTOFF);
        vm.prank(stranger);
        return settlement.settle(P, DISTRIBUTOR);
    }
}
