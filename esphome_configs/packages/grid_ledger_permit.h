// Supply decision of a Grid Ledger meter: pure logic, no ESPHome state, so every
// caller (the periodic check, the permit action, the relay switch) decides alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

namespace grid_ledger {

enum class PermitState : uint8_t {
  UNSET,        // no permit received from Home Assistant yet
  ACTIVE,       // permit runs beyond the warning window
  WARNING,      // permit ends within the warning window
  EXPIRED,      // permit ended: supply held off
  FAIL_OPEN,    // Home Assistant absent too long, policy keeps the supply on
  FAIL_CLOSED,  // Home Assistant absent too long, policy cuts the supply
  OVERCURRENT,  // local over-current cut-off latched until the relay is switched on again
  NO_TIME,      // device clock not set yet: the last verdict stands
};

inline const char *permit_state_name(PermitState state) {
  switch (state) {
    case PermitState::UNSET:
      return "unset";
    case PermitState::ACTIVE:
      return "active";
    case PermitState::WARNING:
      return "warning";
    case PermitState::EXPIRED:
      return "expired";
    case PermitState::FAIL_OPEN:
      return "fail_open";
    case PermitState::FAIL_CLOSED:
      return "fail_closed";
    case PermitState::OVERCURRENT:
      return "overcurrent";
    case PermitState::NO_TIME:
      return "no_time";
  }
  return "unknown";
}

struct SupplyInputs {
  bool overcurrent_latched;
  bool ha_absent;            // no Home Assistant connection for longer than the timeout
  bool fail_closed;          // fail-safe policy when Home Assistant is absent
  int64_t permit_until;      // epoch seconds, negative = never received
  bool time_valid;           // device clock synchronised (HA time or SNTP)
  int64_t now;               // epoch seconds, meaningful only when time_valid
  int64_t warning_window_s;  // warn this long before the permit ends
  bool last_permit_blocked;  // last verdict taken with a valid clock (restored)
};

struct SupplyDecision {
  PermitState state;
  bool allowed;
  // Verdict of the permit itself, remembered for the time the clock is not set.
  bool permit_blocked;
};

inline SupplyDecision decide_supply(const SupplyInputs &in) {
  bool permit_blocked = in.last_permit_blocked;
  PermitState permit_state = PermitState::NO_TIME;
  if (in.permit_until < 0) {
    permit_state = PermitState::UNSET;
    permit_blocked = false;
  } else if (in.time_valid) {
    const int64_t remaining = in.permit_until - in.now;
    permit_blocked = remaining <= 0;
    permit_state = permit_blocked                          ? PermitState::EXPIRED
                   : remaining <= in.warning_window_s      ? PermitState::WARNING
                                                           : PermitState::ACTIVE;
  }
  if (in.overcurrent_latched)
    return {PermitState::OVERCURRENT, false, permit_blocked};
  if (in.ha_absent)
    return in.fail_closed ? SupplyDecision{PermitState::FAIL_CLOSED, false, permit_blocked}
                          : SupplyDecision{PermitState::FAIL_OPEN, true, permit_blocked};
  return {permit_state, !permit_blocked, permit_blocked};
}

// Permit expiry as ISO 8601 UTC for the timestamp text sensor; empty when none was received.
inline void format_permit_until(int64_t epoch, char *buf, size_t len) {
  if (len == 0)
    return;
  buf[0] = '\0';
  if (epoch < 0)
    return;
  const time_t t = static_cast<time_t>(epoch);
  struct tm utc {};
  if (gmtime_r(&t, &utc) == nullptr)
    return;
  strftime(buf, len, "%Y-%m-%dT%H:%M:%S+00:00", &utc);
}

}  // namespace grid_ledger
