package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/campusguard/campusguard/internal/netns"
)

// kernelElem is a set element as the kernel lists it.
type kernelElem struct {
	key     []byte
	end     bool          // an interval end
	timeout time.Duration // 0: the element has none
	expires time.Time     // when it runs out; meaningful with a timeout
}

// dumper lists set elements over a netlink socket of its own.
//
// google/nftables reads every netlink message into a page-sized buffer,
// so the kernel fills each part of a dump to about 4 KiB, and the rbtree
// behind an interval set restarts its walk from the first element for
// every part: listing 180,000 elements took 14 s. Reading with a 32 KiB
// buffer lets the kernel send parts eight times larger, and each element's
// remaining time is read against the moment its part arrived.
type dumper struct {
	fd  int
	seq uint32
	buf []byte
}

// dumpBufSize is the largest part of a dump the kernel sends
// (SKB_WITH_OVERHEAD(32768) in af_netlink.c), with room to spare.
const dumpBufSize = 64 << 10

// openDumper opens a netfilter netlink socket in the network namespace
// netns (0: the process's).
func openDumper(netns int) (*dumper, error) {
	var fd int
	var err error
	if netns == 0 {
		fd, err = newNetfilterSocket()
	} else {
		fd, err = inNetNS(netns, newNetfilterSocket)
	}
	if err != nil {
		return nil, err
	}
	return &dumper{fd: fd, buf: make([]byte, dumpBufSize)}, nil
}

func newNetfilterSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink bind: %w", err)
	}
	// A dump never legitimately stalls; do not hang on one that does.
	tv := unix.NsecToTimeval((30 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink receive timeout: %w", err)
	}
	return fd, nil
}

// inNetNS runs f on an OS thread moved into the network namespace nsFD.
func inNetNS(nsFD int, f func() (int, error)) (int, error) {
	fd, err := -1, error(nil)
	if nerr := netns.Do(nsFD, func() { fd, err = f() }); nerr != nil {
		return -1, nerr
	}
	return fd, err
}

func (d *dumper) close() error { return unix.Close(d.fd) }

// elements lists the elements of an inet set.
func (d *dumper) elements(table, set string) ([]kernelElem, error) {
	d.seq++
	seq := d.seq
	req := make([]byte, 0, 64+len(table)+len(set))
	req = append(req, make([]byte, unix.NLMSG_HDRLEN)...)
	req = append(req, unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0) // nfgenmsg
	req = appendAttr(req, unix.NFTA_SET_ELEM_LIST_TABLE, append([]byte(table), 0))
	req = appendAttr(req, unix.NFTA_SET_ELEM_LIST_SET, append([]byte(set), 0))
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETSETELEM)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []kernelElem
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		at := time.Now()
		b := d.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			msgSeq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
			}
			msg := b[unix.NLMSG_HDRLEN:l]
			b = b[min(nlAlign(l), len(b)):]
			if msgSeq != seq {
				continue // a late answer to an earlier request
			}
			switch typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(msg) < 4 {
					return nil, errors.New("short netlink error message")
				}
				if errno := int32(binary.NativeEndian.Uint32(msg)); errno != 0 {
					return nil, unix.Errno(-errno)
				}
				return out, nil
			}
			if len(msg) < 4 {
				continue
			}
			els, err := parseElemList(msg[4:], at)
			if err != nil {
				return nil, err
			}
			out = append(out, els...)
		}
	}
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// attrs calls f for each netlink attribute in b.
func attrs(b []byte, f func(typ uint16, data []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			return fmt.Errorf("netlink attribute of %d bytes in %d", l, len(b))
		}
		if err := f(typ, b[4:l]); err != nil {
			return err
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	return nil
}

// parseElemList decodes the elements of one NEWSETELEM message.
func parseElemList(b []byte, at time.Time) ([]kernelElem, error) {
	var out []kernelElem
	err := attrs(b, func(typ uint16, data []byte) error {
		if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			return nil
		}
		return attrs(data, func(typ uint16, data []byte) error {
			if typ != unix.NFTA_LIST_ELEM {
				return nil
			}
			var e kernelElem
			var expires time.Duration
			err := attrs(data, func(typ uint16, v []byte) error {
				switch typ {
				case unix.NFTA_SET_ELEM_KEY:
					return attrs(v, func(typ uint16, v []byte) error {
						if typ == unix.NFTA_DATA_VALUE {
							e.key = append([]byte(nil), v...)
						}
						return nil
					})
				case unix.NFTA_SET_ELEM_FLAGS:
					if len(v) != 4 {
						return fmt.Errorf("element flags of %d bytes", len(v))
					}
					e.end = binary.BigEndian.Uint32(v)&unix.NFT_SET_ELEM_INTERVAL_END != 0
				case unix.NFTA_SET_ELEM_TIMEOUT, unix.NFTA_SET_ELEM_EXPIRATION:
					if len(v) != 8 {
						return fmt.Errorf("element timeout of %d bytes", len(v))
					}
					ms := time.Duration(binary.BigEndian.Uint64(v)) * time.Millisecond
					if typ == unix.NFTA_SET_ELEM_TIMEOUT {
						e.timeout = ms
					} else {
						expires = ms
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if e.timeout != 0 {
				e.expires = at.Add(expires)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}
