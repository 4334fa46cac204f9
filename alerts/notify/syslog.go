package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// facilities are the RFC 5424 facility codes by name.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Syslog sends each decision as one RFC 5424 message whose MSG is CEF:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - CEF:0|campusguard|campusguard|VERSION|SIGNATURE|NAME|SEVERITY|EXTENSION
//
// over UDP (a datagram a message), TCP (octet counting, RFC 6587) or TLS
// (RFC 5425). A stream reconnects on failure and sends the message again;
// a message is kept until it is sent or Close gives up.
type Syslog struct {
	cfg      SyslogConfig
	opts     Options
	m        *outputMetrics
	log      *slog.Logger
	q        *outbox
	ctx      context.Context // canceled when Close gives up
	stop     context.CancelFunc
	done     chan struct{}
	facility int
	hostname string
	procid   string
	tls      *tls.Config

	// The worker's own; connMu guards conn for Close's cancel, which
	// closes it to cut a write short.
	connMu sync.Mutex
	conn   net.Conn
	buf    []byte
}

// NewSyslog validates cfg, fills in defaults, reads the TLS files if any
// and starts the sending worker. It does not connect yet: the collector
// may come up later.
func NewSyslog(cfg SyslogConfig, opts Options) (*Syslog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts = opts.withDefaults()
	s := &Syslog{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger.With("output", cfg.Name),
		facility: facilities[cfg.Facility],
		hostname: cfg.Hostname,
		procid:   strconv.Itoa(os.Getpid()),
	}
	if s.hostname == "" {
		h, _ := os.Hostname()
		s.hostname = headerField(h, 255)
	}
	if cfg.Network == "tls" {
		host, _, _ := net.SplitHostPort(cfg.Address)
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if cfg.CACertFile != "" {
			pool, err := loadCAs(cfg.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("syslog %q: ca_cert_file: %w", cfg.Name, err)
			}
			s.tls.RootCAs = pool
		}
		if cfg.CertFile != "" {
			c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("syslog %q: cert_file, key_file: %w", cfg.Name, err)
			}
			s.tls.Certificates = []tls.Certificate{c}
		}
	}
	m, err := newOutputMetrics(opts.Registerer, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("syslog %q: %w", cfg.Name, err)
	}
	s.m = m
	s.q = newOutbox(cfg.QueueSize, m)
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	go s.run()
	return s, nil
}

// headerField makes s an RFC 5424 header field: printable US-ASCII, at
// most max bytes, "-" when empty.
func headerField(s string, max int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Notify queues d unless the filter refuses it. It never blocks.
func (s *Syslog) Notify(d decision.Decision) {
	if !s.cfg.Filter.pass(&d) {
		s.m.filtered.Inc()
		return
	}
	s.q.push(newItem(d, s.opts.Now()))
}

// Close stops taking decisions and sends the queue until ctx ends.
func (s *Syslog) Close(ctx context.Context) error {
	return s.q.closeAndWait(ctx, s.done, s.stop, fmt.Sprintf("syslog %q", s.cfg.Name))
}

func (s *Syslog) run() {
	defer close(s.done)
	// Close's cancel cuts a write or a peer check short. Only the worker
	// changes s.conn (under connMu), so it reads it without the lock.
	unwatch := context.AfterFunc(s.ctx, func() {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		if s.conn != nil {
			s.conn.Close()
		}
	})
	defer unwatch()
	defer s.setConn(nil)
	for it := range s.q.ch {
		s.m.queue.Dec()
		if s.ctx.Err() != nil {
			s.q.abandon()
			continue
		}
		msg := s.format(&it)
		if s.cfg.Network == "udp" {
			s.sendDatagram(msg)
		} else {
			s.sendStream(msg)
		}
	}
}

// setConn closes the current connection, if any, and makes c current.
func (s *Syslog) setConn(c net.Conn) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn = c
}

// format renders it as an RFC 5424 message of at most MaxMessageBytes,
// without framing, into s.buf.
func (s *Syslog) format(it *item) []byte {
	b := s.buf[:0]
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+syslogSeverity(it)), 10)
	b = append(b, ">1 "...)
	b = it.at.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	for _, f := range []string{s.hostname, s.cfg.AppName, s.procid, cefSignature(it)} {
		b = append(b, ' ')
		b = append(b, f...)
	}
	b = append(b, " - "...) // no structured data
	b = appendCEF(b, it, s.opts.Version, s.cfg.MaxMessageBytes)
	s.buf = b
	return b
}

// sendDatagram sends msg as one datagram, trying once more on a fresh
// socket: a write can fail for an ICMP error left by an earlier datagram.
func (s *Syslog) sendDatagram(msg []byte) {
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		if attempt > 1 {
			s.m.retries.Inc()
		}
		c := s.conn
		if c == nil {
			if c, err = s.dial(); err != nil {
				continue
			}
			s.setConn(c)
		}
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err = c.Write(msg); err == nil {
			s.m.ok.Inc()
			return
		}
		s.setConn(nil)
	}
	s.m.failed.Inc()
	s.log.Error("notify: syslog: message not sent", "address", s.cfg.Address, "err", err)
}

// sendStream sends msg with its octet count, reconnecting (with backoff)
// until it is written or Close gives up.
func (s *Syslog) sendStream(msg []byte) {
	frame := make([]byte, 0, len(msg)+8)
	frame = strconv.AppendInt(frame, int64(len(msg)), 10)
	frame = append(frame, ' ')
	frame = append(frame, msg...)
	backoff := s.cfg.ReconnectBackoff
	for failures := 0; ; failures++ {
		if failures > 0 {
			s.m.retries.Inc()
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, s.cfg.MaxReconnectBackoff)
		}
		if s.ctx.Err() != nil {
			s.q.abandon()
			s.log.Error("notify: syslog: closing; message abandoned", "address", s.cfg.Address)
			return
		}
		c := s.conn
		if c != nil && !peerOpen(c) {
			s.log.Info("notify: syslog: the collector closed the connection; reconnecting", "address", s.cfg.Address)
			s.setConn(nil)
			c = nil
		}
		if c == nil {
			var err error
			if c, err = s.dial(); err != nil {
				s.log.Warn("notify: syslog: cannot connect; retrying", "address", s.cfg.Address, "in", backoff, "err", err)
				continue
			}
			s.setConn(c)
		}
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := c.Write(frame); err != nil {
			// A part may have gone out: the whole frame goes again on a
			// new connection, never the rest on this one.
			s.log.Warn("notify: syslog: write failed; reconnecting", "address", s.cfg.Address, "in", backoff, "err", err)
			s.setConn(nil)
			continue
		}
		s.m.ok.Inc()
		return
	}
}

// peerOpen reports whether the collector has not closed c. A collector
// sends nothing on a syslog stream, so a read that ends at once with EOF or
// an error means it is gone; a write would still succeed and lose the
// message. The read waits at most a millisecond.
func peerOpen(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [512]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err == nil || errors.As(err, &ne) && ne.Timeout()
}

func (s *Syslog) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	defer cancel()
	nd := &net.Dialer{Timeout: s.cfg.DialTimeout}
	var (
		c   net.Conn
		err error
	)
	switch s.cfg.Network {
	case "tls":
		d := &tls.Dialer{NetDialer: nd, Config: s.tls}
		c, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	default:
		c, err = nd.DialContext(ctx, s.cfg.Network, s.cfg.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog %q: dial %s %s: %w", s.cfg.Name, s.cfg.Network, s.cfg.Address, err)
	}
	return c, nil
}
