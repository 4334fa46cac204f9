//go:build !linux

package matcher

import "time"

// threadCPU is only implemented on Linux; elsewhere the cpu-* metrics are
// left out.
func threadCPU() (time.Duration, bool) { return 0, false }
