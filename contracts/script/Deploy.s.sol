// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GridLedger} from "../src/GridLedger.sol";
import {GridLedgerBase} from "../src/GridLedgerBase.sol";
import {GridLedgerExtension} from "../src/GridLedgerExtension.sol";
import {GridLedgerFeedersAndViews} from "../src/GridLedgerFeedersAndViews.sol";
import {GridLedgerProducers} from "../src/GridLedgerProducers.sol";
import {EnergyAuction} from "../src/market/EnergyAuction.sol";
import {Settlement} from "../src/settlement/Settlement.sol";
import {EnergyToken} from "../src/token/EnergyToken.sol";
import {TestStablecoin} from "../test/mocks/TestStablecoin.sol";
import {LedgerScript} from "./LedgerScript.sol";

/// @notice Deploys GridLedger (its modules, its energy token, and the test stablecoin if asked), then the
/// EnergyAuction and the Settlement on it, and records the addresses. The energy token is deployed before the ledger, naming the ledger's
/// predicted address as its minter; the ledger's constructor checks it. The auction starts without a fee (the ledger's
/// admin sets one with `setFee`); the settlement without terms (the ledger's tariff setter sets them) or deposit.
/// @dev Environment (all optional):
/// - PAYMENT: "native" (default), "token" (deploy the test stablecoin) or the address of an existing ERC-20.
/// - MINT_AMOUNT: test stablecoin base units minted to the deployer (PAYMENT=token only; default 0).
/// - PERIOD_LENGTH (3600), PAYMENT_WINDOW (600), GRACE (900), MAX_CLOCK_SKEW (300): seconds.
/// - READING_TIMEOUT_PERIODS (3): full periods without a reading before a meter is overdue (0: never).
/// - GENESIS: start of period 1 (default: the current block time rounded down to PERIOD_LENGTH).
/// - ADMIN, TREASURY: default the deployer. ADMIN_TRANSFER_DELAY: seconds (default 0).
/// - AUCTION_INCREMENT_BPS (500): how much a bid must beat the highest by. AUCTION_EXTENSION (300): seconds of the
///   auction's anti-sniping window.
/// - SETTLEMENT_CUTOFF (600): seconds after a period's end before it may be settled.
/// - DEPLOYMENTS_PATH: JSON output (default deployments/<chain id>.json).
contract Deploy is LedgerScript {
    /// @dev The test stablecoin this run deployed (PAYMENT=token), else zero.
    address private _deployedToken;

    function run() external returns (GridLedger gridLedger, TestStablecoin stablecoin) {
        vm.startBroadcast();
        address deployer = broadcaster();
        address token = _paymentToken(deployer);
        stablecoin = TestStablecoin(_deployedToken);
        uint32 periodLength = uint32(vm.envOr("PERIOD_LENGTH", uint256(3600)));
        GridLedgerBase.Config memory c = GridLedgerBase.Config({
            admin: vm.envOr("ADMIN", deployer),
            adminTransferDelay: uint48(vm.envOr("ADMIN_TRANSFER_DELAY", uint256(0))),
            paymentToken: token,
            treasury: vm.envOr("TREASURY", deployer),
            genesis: uint32(vm.envOr("GENESIS", block.timestamp - block.timestamp % periodLength)),
            periodLength: periodLength,
            paymentWindow: uint32(vm.envOr("PAYMENT_WINDOW", uint256(600))),
            grace: uint32(vm.envOr("GRACE", uint256(900))),
            maxClockSkew: uint32(vm.envOr("MAX_CLOCK_SKEW", uint256(300))),
            readingTimeoutPeriods: uint32(vm.envOr("READING_TIMEOUT_PERIODS", uint256(3)))
        });
        GridLedgerExtension extension = new GridLedgerExtension(c, address(new GridLedgerFeedersAndViews(c)));
        // The token, then the producers module, then the ledger: the ledger is the deployer's second contract from now.
        EnergyToken energy = new EnergyToken(vm.computeCreateAddress(deployer, vm.getNonce(deployer) + 2));
        GridLedgerProducers producers = new GridLedgerProducers(c, address(energy));
        gridLedger = new GridLedger(c, address(extension), address(producers));
        EnergyAuction auction = new EnergyAuction(
            address(gridLedger),
            uint16(vm.envOr("AUCTION_INCREMENT_BPS", uint256(500))),
            uint32(vm.envOr("AUCTION_EXTENSION", uint256(300)))
        );
        Settlement settlement = new Settlement(address(gridLedger), uint32(vm.envOr("SETTLEMENT_CUTOFF", uint256(600))));
        vm.stopBroadcast();
        _record(gridLedger, address(extension), address(energy), address(auction), address(settlement), token, c);
    }

    function _paymentToken(address deployer) private returns (address) {
        string memory payment = vm.envOr("PAYMENT", string("native"));
        if (keccak256(bytes(payment)) == keccak256("native")) return address(0);
        if (keccak256(bytes(payment)) == keccak256("token")) {
            TestStablecoin coin = new TestStablecoin(deployer);
            uint256 mint = vm.envOr("MINT_AMOUNT", uint256(0));
            if (mint != 0) coin.mint(deployer, mint);
            _deployedToken = address(coin);
            return address(coin);
        }
        return vm.parseAddress(payment);
    }

    function _record(
        GridLedger gridLedger,
        address extension,
        address energyToken,
        address auction,
        address settlement,
        address token,
        GridLedgerBase.Config memory c
    ) private {
        string memory key = "deployment";
        vm.serializeUint(key, "chainId", block.chainid);
        vm.serializeAddress(key, "extension", extension);
        vm.serializeAddress(key, "energyToken", energyToken);
        vm.serializeAddress(key, "energyAuction", auction);
        vm.serializeAddress(key, "settlement", settlement);
        vm.serializeAddress(key, "paymentToken", token);
        vm.serializeBool(key, "testStablecoin", token != address(0) && token == _deployedToken);
        vm.serializeAddress(key, "admin", c.admin);
        vm.serializeAddress(key, "treasury", c.treasury);
        vm.serializeUint(key, "genesis", c.genesis);
        vm.serializeUint(key, "periodLength", c.periodLength);
        vm.serializeUint(key, "paymentWindow", c.paymentWindow);
        vm.serializeUint(key, "grace", c.grace);
        vm.serializeUint(key, "maxClockSkew", c.maxClockSkew);
        vm.serializeUint(key, "readingTimeoutPeriods", c.readingTimeoutPeriods);
        vm.serializeUint(key, "fromBlock", block.number);
        string memory json = vm.serializeAddress(key, "gridLedger", address(gridLedger));
        string memory path = deploymentsPath();
        vm.createDir(string.concat(vm.projectRoot(), "/deployments"), true);
        vm.writeJson(json, path);
    }
}
