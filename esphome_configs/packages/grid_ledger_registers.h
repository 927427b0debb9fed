#pragma once

// Energy registers fed by a meter's own cumulative counters (Wh). Plain C++ without
// ESPHome types, used by packages/grid_ledger_counter_registers.yaml.

#include <cmath>

namespace grid_ledger {

// Energy a cumulative counter gained since `baseline` (its previous reading), moving the
// baseline to this reading. A negative baseline means none is known yet: a counter that
// restarts at boot started from zero; one that survives reboots (a utility meter's
// register) only sets the baseline, so the register starts at 0 rather than at the
// meter's lifetime total. A counter below its baseline has restarted: a metering chip's
// accumulator counts from zero again (all of its reading is new energy), while a utility
// meter's register going back means a replaced meter or a bad telegram, so it only sets a
// new baseline: adding a whole lifetime register would bill, or credit, energy nobody used.
inline double counter_growth(double &baseline, double reading, bool survives_reboot) {
  if (!std::isfinite(reading) || reading < 0.0)
    return 0.0;
  if (baseline < 0.0)
    baseline = survives_reboot ? reading : 0.0;
  double grown = reading - baseline;
  if (grown < 0.0)
    grown = survives_reboot ? 0.0 : reading;
  baseline = reading;
  return grown;
}

}  // namespace grid_ledger
