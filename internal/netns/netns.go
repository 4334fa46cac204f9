// Package netns runs code inside another network namespace: sockets it
// opens there stay there for their whole life. It knows nothing of what
// the code does (the nftables reader, the namespace tests).
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on a fresh OS thread moved into the network namespace open
// at fd, and returns when f has. The thread goes back to its namespace
// afterwards; if it cannot, it stays locked and exits with its goroutine,
// so no other goroutine ever runs in the wrong namespace. f runs on
// another goroutine: it must not call t.Fatal.
func Do(fd int, f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open this thread's network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace (fd %d): %w", fd, err)
			return
		}
		f()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and exits with this goroutine
		errc <- nil
	}()
	return <-errc
}
