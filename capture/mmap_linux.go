package capture

import "syscall"

// madviseSequential tells the kernel to read ahead: a scan reads the file
// once, front to back.
func madviseSequential(b []byte) error { return syscall.Madvise(b, syscall.MADV_SEQUENTIAL) }
