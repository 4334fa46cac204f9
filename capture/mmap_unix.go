//go:build unix

package capture

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a file read-only; a capture can be larger than memory
// would like to copy. Empty files and files that cannot be mapped (pipes,
// some special files) are read instead.
func mapFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() == int64(int(fi.Size())) {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
		if err == nil {
			_ = madviseSequential(data)
			return data, func() { _ = syscall.Munmap(data) }, nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read capture: %w", err)
	}
	return data, func() {}, nil
}
