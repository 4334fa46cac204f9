package webhooksig

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret, body := []byte("0123456789abcdef"), []byte(`{"id":1}`)
	sig := Sign(secret, 1795694400, body)
	// A known value, so the scheme cannot drift (echo -n '1795694400.{"id":1}' | openssl dgst -sha256 -hmac 0123456789abcdef).
	if sig != "sha256=2dd6e15e3bfbfb425b86365cd772fb436238f254d7f0177ab9ba594015b7723c" || !Verify(secret, sig, 1795694400, body) {
		t.Fatalf("own signature %q does not verify", sig)
	}
	for name, ok := range map[string]bool{
		"other secret": Verify([]byte("another-secret-16"), sig, 1795694400, body),
		"other time":   Verify(secret, sig, 1795694401, body),
		"other body":   Verify(secret, sig, 1795694400, []byte(`{"id":2}`)),
		"no prefix":    Verify(secret, sig[len("sha256="):], 1795694400, body),
		"short":        Verify(secret, sig[:20], 1795694400, body),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
	now := time.Unix(1795694400, 0)
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	r.Header.Set(HeaderSignature, sig)
	if err := VerifyRequest(secret, r, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRequest(secret, r, body, now.Add(10*time.Minute), 5*time.Minute); err == nil {
		t.Fatal("a ten-minute-old request was accepted")
	}
}
