// Package benchclock measures the CPU time a benchmark's own thread used,
// so figures from a busy, shared machine can be read as those of an idle
// core: wall time (ns/op) includes time other processes had the core,
// cpu-ns/op does not.
package benchclock

import (
	"runtime"
	"testing"
	"time"
)

// Clock is started around a benchmark loop; the goroutine stays locked to
// its thread while it runs.
type Clock struct {
	t0 time.Duration
	ok bool
}

// Start locks the goroutine to its thread and reads the thread's CPU time.
func Start() Clock {
	runtime.LockOSThread()
	t0, ok := threadCPU()
	return Clock{t0: t0, ok: ok}
}

// Stop reports cpu-ns/op and, when bytes > 0, cpu-MB/s (10^6 bytes per op,
// as testing's MB/s), and returns the CPU time used.
func (c Clock) Stop(b *testing.B, bytes int64) time.Duration {
	t1, ok := threadCPU()
	runtime.UnlockOSThread()
	if !c.ok || !ok || b.N == 0 {
		return 0
	}
	d := t1 - c.t0
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if bytes > 0 && d > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/d.Seconds()/1e6, "cpu-MB/s")
	}
	return d
}

// ThreadCPU returns the CPU time the calling thread has used, or 0 where
// it cannot be read. Lock the goroutine to its thread (runtime.LockOSThread)
// around the readings that are compared.
func ThreadCPU() time.Duration {
	d, _ := threadCPU()
	return d
}
