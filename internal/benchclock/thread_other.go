//go:build !linux

package benchclock

import "time"

// threadCPU is unavailable off Linux: only wall time is reported.
func threadCPU() (time.Duration, bool) { return 0, false }
