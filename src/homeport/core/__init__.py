"""The vocabulary every layer shares: lifecycle states, time, ARNs, metric points and metric math, schedules.
Pure: nothing here does I/O or imports another homeport layer."""
