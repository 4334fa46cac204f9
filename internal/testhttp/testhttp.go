// Package testhttp sends one request to a test server and reads the whole
// answer, for handler tests that look at status, headers and body.
package testhttp

import (
	"io"
	"net/http"
	"testing"
)

// Response is a read answer.
type Response struct {
	Code   int
	Header http.Header
	Body   string
}

// Do sends method url with client and reads the answer; header holds
// name, value pairs. Any failure to send or read ends the test.
func Do(t testing.TB, client *http.Client, method, url string, header ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{resp.StatusCode, resp.Header, string(b)}
}
