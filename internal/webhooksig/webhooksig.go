// Package webhooksig is the one signature scheme of every webhook
// campusguard sends (moderation decisions to forums, alert decisions to
// the NOC): an HMAC-SHA256 over the Unix timestamp, a dot and the raw
// body, so a receiver can check both who sent it and that it is fresh.
//
//	X-Campusguard-Timestamp: 1795694400
//	X-Campusguard-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Campusguard-Delivery:  an id that stays the same on every retry
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers.
const (
	HeaderTimestamp = "X-Campusguard-Timestamp"
	HeaderSignature = "X-Campusguard-Signature"
	HeaderDelivery  = "X-Campusguard-Delivery"
)

// Sign returns the X-Campusguard-Signature value for body sent at ts (Unix
// seconds): "sha256=" and the hex HMAC-SHA256 of ts + "." + body.
func Sign(secret []byte, ts int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	var buf [24]byte
	m.Write(strconv.AppendInt(buf[:0], ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify reports whether header (an X-Campusguard-Signature value) signs
// body sent at ts with secret, comparing in constant time. It does not look
// at the clock: see VerifyRequest.
func Verify(secret []byte, header string, ts int64, body []byte) bool {
	h, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(h)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, ts, body))
}

// VerifyRequest checks a webhook request's headers against its raw body
// (read by the caller) and refuses a timestamp more than maxSkew from now,
// so a captured request cannot be replayed later.
func VerifyRequest(secret []byte, r *http.Request, body []byte, now time.Time, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad or missing %s", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("webhook: timestamp %d is %s from now", ts, d.Round(time.Second))
	}
	if !Verify(secret, r.Header.Get(HeaderSignature), ts, body) {
		return errors.New("webhook: bad signature")
	}
	return nil
}
