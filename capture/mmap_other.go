//go:build unix && !linux

package capture

func madviseSequential([]byte) error { return nil }
