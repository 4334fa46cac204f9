package feeds

import (
	"errors"
	"net/http"
	"strings"

	"github.com/campusguard/campusguard/internal/state"
)

// errNoToken is the refusal of a request that carries no token at all.
var errNoToken = errors.New(`missing token: send "Authorization: Bearer TOKEN", HTTP basic auth with the token as password, or ?token=TOKEN (create one with campusguard tokens add --scope feeds)`)

// Secret returns the API token a feed request carries, looked for in this
// order:
//
//   - "Authorization: Bearer TOKEN";
//   - "Authorization: Basic …" (HTTP basic auth) with the token as the
//     password and any user name, for firewalls that only do basic auth;
//   - the query parameter token=TOKEN, for those that can only fetch a
//     URL. The token then travels in the URL, which proxies, the
//     firewall's own configuration and logs may record.
//
// An Authorization header of another scheme is an error, not a reason to
// look further.
func Secret(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			if s := strings.TrimSpace(rest); s != "" {
				return s, nil
			}
			return "", errors.New("empty bearer token")
		case strings.EqualFold(scheme, "Basic"):
			_, pw, ok := r.BasicAuth()
			if !ok || pw == "" {
				return "", errors.New("basic auth: want the token as the password")
			}
			return pw, nil
		}
		return "", errors.New("authorization scheme: want Bearer or Basic")
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, nil
	}
	return "", errNoToken
}

// TokenAuth checks the token a request carries (see Secret) against the
// API tokens of scope feeds and names the caller "token:NAME".
func TokenAuth(db *state.DB) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		secret, err := Secret(r)
		if err != nil {
			return "", err
		}
		t, err := db.CheckToken(r.Context(), secret, state.ScopeFeeds)
		if err != nil {
			return "", err
		}
		return "token:" + t.Name, nil
	}
}
