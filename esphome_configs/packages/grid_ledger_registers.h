#pragma once

// Energy registers fed by a meter's own cumulative counters (Wh). Plain C++ without
// ESPHome types, used by packages/grid_ledger_counter_registers.yaml.

#include <cmath>

namespace grid_ledger {

// Energy a cumulative counter gained since `baseline` (its previous reading), moving the
// baseline to this reading. A counter below its baseline has restarted (a metering chip
// counts from zero after a reset, a replaced meter starts low): its whole reading is new
// energy. A negative baseline means none is known yet: a counter that restarts at boot
// started from zero; one that survives reboots (a utility meter's register) only sets the
// baseline, so the register starts at 0 rather than at the meter's lifetime total.
inline double counter_growth(double &baseline, double reading, bool survives_reboot) {
  if (!std::isfinite(reading) || reading < 0.0)
    return 0.0;
  if (baseline < 0.0)
    baseline = survives_reboot ? reading : 0.0;
  const double grown = reading >= baseline ? reading - baseline : reading;
  baseline = reading;
  return grown;
}

}  // namespace grid_ledger
