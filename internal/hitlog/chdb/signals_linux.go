package chdb

import (
	"sync"
	"syscall"
	"unsafe"
)

// kernelSigaction is struct sigaction as the rt_sigaction system call sees
// it on Linux (handler, flags, restorer, mask); it is copied, not read.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const maxSignal = 64

// signalMu serializes snapshots so two engine calls cannot restore each
// other's half-changed state.
var signalMu sync.Mutex

// withSignalsKept runs fn, then restores every signal disposition it
// changed. The engine's opt-out resets SIGSEGV, SIGBUS, SIGFPE and others
// to SIG_DFL, and connect repeats the reset; without the Go runtime's
// handlers a nil dereference would kill the process instead of panicking.
// Signal dispositions are process-wide, so a fault on another thread in the
// microseconds of fn is not covered; fn is only ever a connect or close.
func withSignalsKept(fn func()) {
	signalMu.Lock()
	defer signalMu.Unlock()
	var saved [maxSignal + 1]kernelSigaction
	var ok [maxSignal + 1]bool
	for sig := 1; sig <= maxSignal; sig++ {
		ok[sig] = rtSigaction(sig, nil, &saved[sig]) == nil
	}
	fn()
	for sig := 1; sig <= maxSignal; sig++ {
		if !ok[sig] || sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var now kernelSigaction
		if rtSigaction(sig, nil, &now) == nil && now != saved[sig] {
			_ = rtSigaction(sig, &saved[sig], nil)
		}
	}
}

// signalDispositions returns the current disposition of every signal, for
// tests that check the engine left them alone.
func signalDispositions() [maxSignal + 1]kernelSigaction {
	var all [maxSignal + 1]kernelSigaction
	for sig := 1; sig <= maxSignal; sig++ {
		_ = rtSigaction(sig, nil, &all[sig])
	}
	return all
}

func rtSigaction(sig int, act, old *kernelSigaction) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
